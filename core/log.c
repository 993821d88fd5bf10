#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Atomic int log_level = LOG_INFO;

static const char *names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

int log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    if (strcasecmp(s, "warning") == 0) return LOG_WARN;
    return -1;
}

/* Timestamp and level in front of the message; the message itself copied with
 * every control byte, DEL and non-ASCII byte as \xHH when `escape` (so that
 * no peer-supplied text inside it can start a line of its own), then '\n';
 * one write(2). */
static void emit(int level, int escape, const char *fmt, va_list ap)
{
    static const char hex[] = "0123456789abcdef";
    char msg[2048], line[2048 + 64];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ [%s] ", ts.tv_nsec / 1000000, names[level]);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    for (size_t i = 0; i < len && n + 5 < sizeof line; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (!escape || (c >= 0x20 && c < 0x7f)) {
            line[n++] = (char)c;
        } else {
            line[n++] = '\\'; line[n++] = 'x';
            line[n++] = hex[c >> 4]; line[n++] = hex[c & 15];
        }
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, 1, fmt, ap);
    va_end(ap);
}

void log_block(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, 0, fmt, ap);
    va_end(ap);
}

const char *log_escape(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\'; out[o++] = 'x';
            out[o++] = hex[c >> 4]; out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}
