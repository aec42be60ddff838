#include "app/app_shard.h"

#include <time.h>

void kl_app_shard_tick_date(kl_app_shard_t *as) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == as->date_sec && as->date_len) return;
    as->date_sec = ts.tv_sec;
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    as->date_len = strftime(as->date, sizeof(as->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}
