/* log.h -- leveled logging to stderr. One write(2) per line, so lines from
 * different threads never interleave. The level is set once at start-up.
 *
 * Every message is escaped as it is written: a control byte, DEL or non-ASCII
 * byte becomes \xHH, so text a peer supplied (a target name, an error text)
 * cannot forge a line, wherever it is logged. log_block is the one exception,
 * for the program's own multi-line text (the seed's pool banner). */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <stdatomic.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Read by every thread, written only before worker threads start. */
extern _Atomic int log_level;

int log_parse_level(const char *s); /* -1 if unknown */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Unescaped, newlines kept: never with peer-supplied text. */
void log_block(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_level <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level <= LOG_INFO)  log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_level <= LOG_WARN)  log_msg(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Copies n bytes of s (which may hold NULs) into out as a C string, every byte
 * outside printable ASCII (and '"', '\\') written as \xHH. */
const char *log_escape(const char *s, size_t n, char *out, size_t cap);

#endif
