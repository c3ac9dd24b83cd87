/*
 * log: one line per event on stderr, logfmt (`ts=… level=… module=… msg="…"`
 * then key=value pairs), with the current request or job id when the
 * calling thread has one. Thread-safe (one write(2) per line). Never pass a
 * secret: callers mask credentials before they reach a log line.
 */
#ifndef PARLEY_UTIL_LOG_H
#define PARLEY_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void	 log_set_level(enum log_level lvl);
/* "debug" | "info" | "warn" | "error" → level (info when unknown). */
enum log_level log_level_parse(const char *s);
/* The calling thread's request/job id for later lines (NULL clears). */
void	 log_set_context_id(const char *id);

/* `fmt` renders the rest of the line after the module tag: "msg=\"…\" k=v". */
void	 log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...)	log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)	log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)	log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_err(mod, ...)	log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
