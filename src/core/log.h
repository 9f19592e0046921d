/* log.h: leveled logging to stderr and/or syslog. The level check is a
 * macro so disabled levels cost one comparison and no formatting. */
#ifndef TERN_LOG_H
#define TERN_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_threshold;

void log_open(enum log_level lvl, int use_stderr, int use_syslog);
void log_close(void);
int log_level_parse(const char *s, enum log_level *out);
void log_write(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if ((lvl) <= log_threshold)                                    \
			log_write((lvl), __VA_ARGS__);                         \
	} while (0)
#define log_err(...) log_at(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_enabled(lvl) ((lvl) <= log_threshold)

#endif
