/*
 * lib/types_time.c - ISO-8601 timestamps <-> microseconds since the Unix epoch (UTC).
 *
 * The civil-date arithmetic is done here (no gmtime/localtime/timegm): they depend on
 * the process time zone, are not thread-safe (gmtime) or not standard (timegm).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agentex/types.h"
#include "internal.h"

#define USEC_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, d 1..31).
 * Counts in 400-year cycles of 146097 days, with years starting on March 1 so that
 * the leap day is the last day of a year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    if (m <= 2)
        y -= 1;
    int64_t cycle = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_cycle = y - cycle * 400;                 /* 0..399 */
    int64_t mar_month = m > 2 ? m - 3 : m + 9;               /* 0 = March .. 11 = February */
    int64_t day_of_year = (153 * mar_month + 2) / 5 + d - 1; /* 0..365 */
    int64_t day_of_cycle =
        year_of_cycle * 365 + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    return cycle * 146097 + day_of_cycle - 719468; /* 719468: 0000-03-01 .. 1970-01-01 */
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t cycle = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_cycle = days - cycle * 146097; /* 0..146096 */
    int64_t year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36524 - day_of_cycle / 146096) /
        365; /* 0..399 */
    int64_t day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    int64_t mar_month = (5 * day_of_year + 2) / 153; /* 0..11 */
    *d = (int)(day_of_year - (153 * mar_month + 2) / 5 + 1);
    *m = (int)(mar_month < 10 ? mar_month + 3 : mar_month - 9);
    *y = year_of_cycle + cycle * 400 + (*m <= 2 ? 1 : 0);
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/*
 * Accepted: YYYY-MM-DD, optionally followed by 'T' (or 't' or one space) and
 * HH:MM[:SS[.f...]] with 1 to 9 fraction digits (truncated to microseconds), then
 * optionally a zone: 'Z', 'z', +HH:MM, -HH:MM, +HHMM, +HH.  No zone means UTC.
 */
agentex_err_t adk_time_parse(const char *text, int64_t *out)
{
    if (!text || !out)
        return AGENTEX_EINVAL;
    const char *p = text;
    int year, month, day, hour = 0, minute = 0, second = 0;
    int64_t usec = 0, offset_sec = 0;

    if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &month) || !expect(&p, '-') ||
        !digits(&p, 2, &day))
        return AGENTEX_EINVAL;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return AGENTEX_EINVAL;

    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &hour) || !expect(&p, ':') || !digits(&p, 2, &minute))
            return AGENTEX_EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &second))
                return AGENTEX_EINVAL;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                int64_t frac = 0;
                while (*p >= '0' && *p <= '9') {
                    if (++n > 9)
                        return AGENTEX_EINVAL;
                    frac = frac * 10 + (*p - '0');
                    p++;
                }
                if (n == 0)
                    return AGENTEX_EINVAL;
                for (int i = n; i < 9; i++)
                    frac *= 10;
                usec = frac / 1000; /* nanoseconds -> microseconds, truncated */
            }
        }
        if (hour > 23 || minute > 59 || second > 59)
            return AGENTEX_EINVAL;

        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!digits(&p, 2, &oh))
                return AGENTEX_EINVAL;
            if (*p == ':') {
                p++;
                if (!digits(&p, 2, &om))
                    return AGENTEX_EINVAL;
            } else if (*p >= '0' && *p <= '9') {
                if (!digits(&p, 2, &om))
                    return AGENTEX_EINVAL;
            }
            if (oh > 23 || om > 59)
                return AGENTEX_EINVAL;
            offset_sec = sign * (int64_t)(oh * 3600 + om * 60);
        }
    }
    if (*p != '\0')
        return AGENTEX_EINVAL;

    int64_t days = days_from_civil(year, month, day);
    int64_t secs = days * SEC_PER_DAY + hour * 3600 + minute * 60 + second - offset_sec;
    *out = secs * USEC_PER_SEC + usec;
    return AGENTEX_OK;
}

agentex_err_t adk_time_format(int64_t usec, char *buf, size_t len)
{
    /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
    if (!buf || len < 28 || usec == ADK_TIME_NONE)
        return AGENTEX_EINVAL;
    int64_t secs = usec / USEC_PER_SEC, frac = usec % USEC_PER_SEC;
    if (frac < 0) {
        frac += USEC_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / SEC_PER_DAY, sod = secs % SEC_PER_DAY;
    if (sod < 0) {
        sod += SEC_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return AGENTEX_EINVAL;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    return AGENTEX_OK;
}
