#include "proto/datetime.h"

/* The number s[0..n) of exactly n digits, or -1. */
static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool kl_datetime_valid(const char *s, size_t len) {
    /* "YYYY-MM-DDThh:mm:ss" is 19 bytes, the shortest offset "Z" one more */
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), minute = digits(s + 14, 2), second = digits(s + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in(year, month) || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t f = ++i;
        bool zero = true;
        while (i < len && s[i] >= '0' && s[i] <= '9') zero &= s[i++] == '0';
        if (i == f || i - f > 9 || (second == 60 && !zero)) return false;
    }
    if (i == len - 1) return s[i] == 'Z' || s[i] == 'z';
    if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return false;
    int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
    return oh >= 0 && oh <= 15 && om >= 0 && om <= 59;
}
