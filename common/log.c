/* SPDX-License-Identifier: MIT */
/* stderr logger with journald priority prefixes. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int log_level_current = LOG_LVL_INFO;
static int log_prefix = -1; /* -1: decide on first use */

int log_level_set(const char *name)
{
	static const struct { const char *name; int level; } names[] = {
		{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			log_level_current = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void log_prefix_set(bool on)
{
	log_prefix = on;
}

void log_write(int level, const char *fmt, ...)
{
	static const char *const tags[8] = {
		"", "", "", "error: ", "warning: ", "", "", "debug: ",
	};
	char line[2048];
	va_list ap;
	int n;

	if (log_prefix < 0)
		log_prefix = !isatty(STDERR_FILENO);
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one record per line: text from peers (node names, workers' messages)
	 * cannot start a forged line or move the cursor */
	for (char *s = line; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
	if (log_prefix)
		fprintf(stderr, "<%d>%s\n", level, line);
	else
		fprintf(stderr, "%s%s\n", tags[level & 7], line);
}
