/* Dates: a token scanner that accepts the RFC 5322 form and the obsolete
 * and broken variants seen in real mail, and refuses anything it would have
 * to guess at (no day, no month, no year, no time, a value out of range). */
#include "private.h"

#include <string.h>

static const char *const months[] = {"january", "february", "march",     "april",
                                     "may",     "june",     "july",      "august",
                                     "september", "october", "november", "december"};
static const char *const wdays[] = {"monday", "tuesday",  "wednesday", "thursday",
                                    "friday", "saturday", "sunday"};

/* Index of the word (at least 3 letters, a prefix of a full name) in
 * names, or -1. */
static int match_name(const char *w, size_t n, const char *const *names, int count)
{
    if (n < 3)
        return -1;
    for (int i = 0; i < count; i++) {
        size_t full = strlen(names[i]);
        if (n > full)
            continue;
        size_t k = 0;
        while (k < n && mime_lower(w[k]) == names[i][k])
            k++;
        if (k == n)
            return i;
    }
    return -1;
}

/* Named zones: offset in minutes east of UTC. Military letters and other
 * alphabetic zones mean "unknown offset" in RFC 5322 4.3 and count as
 * UTC. */
static bool zone_name(const char *w, size_t n, int *off)
{
    static const struct {
        const char *name;
        int minutes;
    } zones[] = {
        {"ut", 0},         {"utc", 0},        {"gmt", 0},        {"z", 0},
        {"est", -5 * 60},  {"edt", -4 * 60},  {"cst", -6 * 60},  {"cdt", -5 * 60},
        {"mst", -7 * 60},  {"mdt", -6 * 60},  {"pst", -8 * 60},  {"pdt", -7 * 60},
    };
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        if (strlen(zones[i].name) == n && !tern_strncasecmp(w, zones[i].name, n)) {
            *off = zones[i].minutes;
            return true;
        }
    }
    if (n >= 1 && n <= 5) {
        *off = 0;
        return true;
    }
    return false;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil, written out). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static unsigned days_in_month(long long y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* Read up to max_digits digits at s[*i..n); false when there are none or
 * more than max_digits. */
static bool read_num(const char *s, size_t n, size_t *i, size_t max_digits, long *v,
                     size_t *ndigits)
{
    size_t k = 0;
    long x = 0;
    while (*i < n && is_digit(s[*i])) {
        if (++k > max_digits)
            return false;
        x = x * 10 + (s[*i] - '0');
        (*i)++;
    }
    if (k == 0)
        return false;
    *v = x;
    if (ndigits)
        *ndigits = k;
    return true;
}

bool mime_parse_date(const char *s, size_t n, time_t *out)
{
    long day = -1, year = -1, hour = -1, min = -1, sec = 0;
    int month = -1, zone = 0;
    bool have_zone = false, have_time = false;
    size_t year_digits = 0;
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (mime_is_space(c) || c == ',') {
            i++;
        } else if (c == '(') {
            /* Comments nest; an unterminated one runs to the end. */
            int depth = 0;
            for (; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                else if (s[i] == '(')
                    depth++;
                else if (s[i] == ')' && --depth == 0) {
                    i++;
                    break;
                }
            }
        } else if (is_alpha(c)) {
            size_t a = i;
            while (i < n && is_alpha(s[i]))
                i++;
            size_t wl = i - a;
            if (i < n && s[i] == '.') /* "Mon." "Jan." */
                i++;
            int m = match_name(s + a, wl, months, 12);
            if (m >= 0 && month < 0 && !have_time) {
                month = m + 1;
            } else if (match_name(s + a, wl, wdays, 7) >= 0 && !have_time) {
                /* the weekday is redundant; a wrong one is not worth refusing */
            } else if (have_time && !have_zone) {
                if (!zone_name(s + a, wl, &zone))
                    return false;
                have_zone = true;
            } else if (have_time && have_zone && wl <= 5) {
                /* "+0000 GMT": the numeric zone wins */
            } else {
                return false;
            }
        } else if ((c == '+' || c == '-') && have_time && !have_zone && i + 1 < n &&
                   is_digit(s[i + 1])) {
            i++;
            long hh, mm = 0;
            size_t nd;
            if (!read_num(s, n, &i, 4, &hh, &nd))
                return false;
            if (nd == 4) {
                mm = hh % 100;
                hh /= 100;
            } else if (nd <= 2 && i + 1 < n && s[i] == ':' && is_digit(s[i + 1])) {
                i++;
                if (!read_num(s, n, &i, 2, &mm, NULL))
                    return false;
            } else if (nd != 2) {
                return false;
            }
            if (hh > 23 || mm > 59)
                return false;
            zone = (int)(hh * 60 + mm) * (c == '-' ? -1 : 1);
            have_zone = true;
        } else if (c == '-' && !have_time) {
            i++; /* "01-Jan-2024" */
        } else if (is_digit(c)) {
            long v;
            size_t nd;
            if (!read_num(s, n, &i, 9, &v, &nd))
                return false;
            if (i < n && s[i] == ':') {
                if (have_time || nd > 2)
                    return false;
                hour = v;
                i++;
                if (!read_num(s, n, &i, 2, &min, NULL))
                    return false;
                if (i + 1 < n && s[i] == ':' && is_digit(s[i + 1])) {
                    i++;
                    if (!read_num(s, n, &i, 2, &sec, NULL))
                        return false;
                }
                have_time = true;
            } else if (nd >= 3) {
                if (year >= 0 || nd > 4)
                    return false;
                year = v;
                year_digits = nd;
            } else if (day < 0 && (year < 0 || month >= 0)) {
                day = v;
            } else if (year < 0) {
                year = v;
                year_digits = nd;
            } else {
                return false;
            }
        } else {
            return false;
        }
    }
    if (day < 1 || month < 1 || year < 0 || !have_time)
        return false;
    /* RFC 5322 4.3: two-digit years below 50 are 20xx, else 19xx; three
     * digits add 1900. */
    if (year_digits <= 2)
        year += year < 50 ? 2000 : 1900;
    else if (year_digits == 3)
        year += 1900;
    if (year < 1900 || year > 9999)
        return false;
    if (day > (long)days_in_month(year, (unsigned)month) || hour > 23 || min > 59 || sec > 60)
        return false;
    long long t = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400LL +
                  hour * 3600LL + min * 60LL + sec - zone * 60LL;
    if (sizeof(time_t) < 8 && (t > INT32_MAX || t < INT32_MIN))
        return false;
    *out = (time_t)t;
    return true;
}

bool mime_format_rfc3339(time_t t, char *buf, size_t size)
{
    long long s = (long long)t;
    long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    long long rem = s - days * 86400;
    /* civil_from_days */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999)
        return false;
    return tern_snprintf(buf, size, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", y, m, d,
                         rem / 3600, rem % 3600 / 60, rem % 60);
}
