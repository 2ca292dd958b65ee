/*
 * One line per event, to stderr (default), syslog or a file. Thread-safe: each line is formatted into a local
 * buffer and written with a single write(2), so lines from several threads or processes never interleave.
 * Never pass key material, JWS bodies or request payloads here, at any level (STYLE.md "Secrets and files").
 */
#ifndef AUTOTLS_UTIL_LOG_H
#define AUTOTLS_UTIL_LOG_H

enum at_log_level { AT_LOG_ERROR = 0, AT_LOG_WARN = 1, AT_LOG_INFO = 2, AT_LOG_DEBUG = 3 };

enum at_log_sink { AT_LOG_SINK_STDERR = 0, AT_LOG_SINK_SYSLOG = 1, AT_LOG_SINK_FILE = 2 };

/* Sets where lines go. path is used for AT_LOG_SINK_FILE only (opened O_APPEND, 0600). Returns 0 or AT_E_IO. */
int at_log_open(enum at_log_sink sink, const char *path, enum at_log_level level);

void at_log_set_level(enum at_log_level level);
enum at_log_level at_log_get_level(void);

void at_log(enum at_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define at_log_error(...) at_log(AT_LOG_ERROR, __VA_ARGS__)
#define at_log_warn(...) at_log(AT_LOG_WARN, __VA_ARGS__)
#define at_log_info(...) at_log(AT_LOG_INFO, __VA_ARGS__)
#define at_log_debug(...) at_log(AT_LOG_DEBUG, __VA_ARGS__)

#endif
