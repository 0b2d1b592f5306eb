/* SPDX-License-Identifier: MIT */
/* INI loading on top of inih, with "file:line: reason" errors, plus small
 * value parsers that validate ranges and say what was wrong. */
#ifndef HARE_CONFIG_H
#define HARE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per key. Return 0 to accept; on rejection write a reason
 * (without file or line) into err (errlen bytes) and return a negative code. */
typedef int (*config_entry_cb)(void *user, const char *section, const char *key,
			       const char *value, char *err, size_t errlen);

/* Parse the INI file at path, calling cb for each key. Returns 0, -errno when
 * the file cannot be read, or ERR_BAD_CONFIG with errbuf set to
 * "path:line: reason" for the first syntax error or rejected key. */
int config_load(const char *path, config_entry_cb cb, void *user, char *errbuf, size_t errlen);

/* The same over a string already in memory; name is used in messages. */
int config_load_string(const char *name, const char *text, config_entry_cb cb, void *user,
		       char *errbuf, size_t errlen);

/* Value parsers: 0 on success, ERR_BAD_CONFIG with a reason in err otherwise. */
int config_parse_u32(const char *value, uint32_t min, uint32_t max, uint32_t *out, char *err, size_t errlen);
int config_parse_double(const char *value, double min, double max, double *out, char *err, size_t errlen);
int config_parse_bool(const char *value, bool *out, char *err, size_t errlen);

#endif
