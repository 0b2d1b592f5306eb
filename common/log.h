/* SPDX-License-Identifier: MIT */
/* Logging for executables (libraries return errors and do not log): one line
 * per event on stderr with sd-daemon priority prefixes for journald. */
#ifndef HARE_LOG_H
#define HARE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

extern int log_level_current;

/* Set the level from a name ("error", "warn", "info", "debug"); -EINVAL if unknown. */
int log_level_set(const char *name);

/* With prefixes on (the default when stderr is not a terminal), each line
 * starts with "<N>" so journald files it at that priority. */
void log_prefix_set(bool on);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Level checked before the arguments are evaluated. */
#define log_at(lvl, ...) do { if ((lvl) <= log_level_current) log_write((lvl), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
