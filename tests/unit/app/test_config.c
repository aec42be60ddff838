#include <errno.h>
#include <stdlib.h>

#include "app/config.h"
#include "kt.h"

static void durations_and_sizes(void) {
    int64_t v;
    KT_EQ(kl_config_parse_duration("10s", &v), 0);
    KT_EQ(v, 10000);
    KT_EQ(kl_config_parse_duration("500ms", &v), 0);
    KT_EQ(v, 500);
    KT_EQ(kl_config_parse_duration("2m", &v), 0);
    KT_EQ(v, 120000);
    KT_EQ(kl_config_parse_duration("250", &v), 0);
    KT_EQ(v, 250);
    KT_EQ(kl_config_parse_duration("-1s", &v), -EINVAL);
    KT_EQ(kl_config_parse_duration("1x", &v), -EINVAL);
    KT_EQ(kl_config_parse_duration("", &v), -EINVAL);
    KT_EQ(kl_config_parse_size("16k", &v), 0);
    KT_EQ(v, 16384);
    KT_EQ(kl_config_parse_size("1m", &v), 0);
    KT_EQ(v, 1048576);
    KT_EQ(kl_config_parse_size("64KiB", &v), 0);
    KT_EQ(v, 65536);
    KT_EQ(kl_config_parse_size("99999999999999999999k", &v), -EINVAL);
}

static void cache_default_from_memory(void) {
    /* 1/8 of the memory: a 4 GiB box (MemTotal ~3.8 GiB) gets ~480 MiB, room for the
     * reference app's 100,000 bounties on each of its shards */
    KT_EQ(kl_config_default_cache_mb(4ull << 30), 512);
    KT_EQ(kl_config_default_cache_mb(3900ull << 20), 487);
    KT_EQ(kl_config_default_cache_mb(0), 64);           /* unknown memory */
    KT_EQ(kl_config_default_cache_mb(64ull << 20), 16); /* tiny boxes keep a floor */
    KT_EQ(kl_config_default_cache_mb(1ull << 40), 4096);
    kl_config_t c;
    char *argv[] = {"keel", NULL};
    unsetenv("KEEL_CACHE_MB");
    KT_EQ(kl_config_load(&c, 1, argv), 0);
    KT_EQ(c.cache_mb, kl_config_default_cache_mb(kl_config_memory_bytes()));
    KT_CHECK(c.cache_mb >= 16);
    kl_config_free(&c);
    setenv("KEEL_CACHE_MB", "0", 1); /* an explicit value wins, 0 included */
    KT_EQ(kl_config_load(&c, 1, argv), 0);
    KT_EQ(c.cache_mb, 0);
    kl_config_free(&c);
    char *argv2[] = {"keel", "--cache-mb", "auto", NULL};
    KT_EQ(kl_config_load(&c, 3, argv2), 0);
    KT_EQ(c.cache_mb, kl_config_default_cache_mb(kl_config_memory_bytes()));
    kl_config_free(&c);
    char *argv3[] = {"keel", "--cache-mb", "-5", NULL};
    KT_EQ(kl_config_load(&c, 3, argv3), -EINVAL);
    kl_config_free(&c);
    unsetenv("KEEL_CACHE_MB");
}

static void flags_override_environment(void) {
    kl_config_t c;
    setenv("PORT", "9000", 1);
    setenv("KEEL_SHARDS", "3", 1);
    char *argv[] = {"keel", "--port", "9100", "--header-timeout=2s", NULL};
    KT_EQ(kl_config_load(&c, 4, argv), 0);
    KT_EQ(c.port, 9100);
    KT_EQ(c.shards, 3);
    KT_EQ(c.header_timeout_ms, 2000);
    KT_EQ(c.keepalive_ms, 75000);
    KT_CHECK(strcmp(c.listen, "127.0.0.1") == 0);
    kl_config_free(&c);
    unsetenv("PORT");
    unsetenv("KEEL_SHARDS");
}

static void bad_values_are_refused(void) {
    kl_config_t c;
    char *a1[] = {"keel", "--port", "70000", NULL};
    KT_EQ(kl_config_load(&c, 3, a1), -EINVAL);
    kl_config_free(&c);
    char *a2[] = {"keel", "--no-such-thing", "1", NULL};
    KT_EQ(kl_config_load(&c, 3, a2), -EINVAL);
    kl_config_free(&c);
    char *a3[] = {"keel", "--port", NULL};
    KT_EQ(kl_config_load(&c, 2, a3), -EINVAL);
    kl_config_free(&c);
    char *a4[] = {"keel", "--recv-buffers", "1000", NULL};
    KT_EQ(kl_config_load(&c, 3, a4), -EINVAL);
    kl_config_free(&c);
    setenv("KEEL_ACCESS_LOG", "maybe", 1);
    char *a5[] = {"keel", NULL};
    KT_EQ(kl_config_load(&c, 1, a5), -EINVAL);
    kl_config_free(&c);
    unsetenv("KEEL_ACCESS_LOG");
}

/* The @rate and connection-cap settings: off or empty by default, checked when loaded. */
static void rate_limit_settings(void) {
    kl_config_t c;
    char *a0[] = {"keel", NULL};
    KT_EQ(kl_config_load(&c, 1, a0), 0);
    KT_CHECK(strcmp(c.trusted_proxies, "") == 0 && strcmp(c.forwarded_header, "x-forwarded-for") == 0);
    KT_EQ(c.max_conns_per_ip, 0);
    KT_EQ(c.rate_limit_slots, 262144);
    kl_config_free(&c);
    char *a1[] = {"keel", "--trusted-proxies", "10.0.0.0/8, fd00::/8 192.0.2.1", "--forwarded-header", "forwarded",
                  "--max-conns-per-ip", "20", "--rate-limit-slots", "1024", NULL};
    KT_EQ(kl_config_load(&c, 9, a1), 0);
    KT_EQ(c.max_conns_per_ip, 20);
    KT_EQ(c.rate_limit_slots, 1024);
    KT_CHECK(strcmp(c.forwarded_header, "forwarded") == 0);
    kl_config_free(&c);
    char *a2[] = {"keel", "--forwarded-header", "X-Forwarded-For", NULL}; /* field names ignore case */
    KT_EQ(kl_config_load(&c, 3, a2), 0);
    kl_config_free(&c);
    static const char *bad[][2] = {{"--trusted-proxies", "10.0.0.1/8"}, {"--trusted-proxies", "localhost"},
                                   {"--forwarded-header", "x-real-ip"}, {"--rate-limit-slots", "1000"},
                                   {"--rate-limit-slots", "32"}, {"--max-conns-per-ip", "-1"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *a[] = {"keel", (char *)bad[i][0], (char *)bad[i][1], NULL};
        KT_EQ(kl_config_load(&c, 3, a), -EINVAL);
        kl_config_free(&c);
    }
}

int main(void) {
    KT_RUN(cache_default_from_memory);
    KT_RUN(durations_and_sizes);
    KT_RUN(flags_override_environment);
    KT_RUN(bad_values_are_refused);
    KT_RUN(rate_limit_settings);
    return KT_DONE();
}
