/* SPDX-License-Identifier: MIT */
/* The one table of Hare's error codes and their names and messages. */
#include "err.h"

#include <errno.h>
#include <string.h>

struct err_entry {
	int code;
	const char *name;
	const char *msg;
};

static const struct err_entry err_table[] = {
	{ ERR_PROTO, "ERR_PROTO", "malformed protocol message" },
	{ ERR_FRAME_TOO_BIG, "ERR_FRAME_TOO_BIG", "frame larger than the maximum" },
	{ ERR_BAD_SPEC, "ERR_BAD_SPEC", "invalid job specification" },
	{ ERR_BAD_CONFIG, "ERR_BAD_CONFIG", "invalid configuration" },
	{ ERR_BAD_PROFILE, "ERR_BAD_PROFILE", "invalid throughput profile" },
	{ ERR_BAD_TRACE, "ERR_BAD_TRACE", "invalid workload trace" },
	{ ERR_UNKNOWN_MODEL, "ERR_UNKNOWN_MODEL", "unknown model" },
	{ ERR_UNKNOWN_GPU, "ERR_UNKNOWN_GPU", "unknown GPU type" },
	{ ERR_LP_INFEASIBLE, "ERR_LP_INFEASIBLE", "LP infeasible" },
	{ ERR_LP_TIMEOUT, "ERR_LP_TIMEOUT", "LP time budget exhausted" },
	{ ERR_LP_FAILED, "ERR_LP_FAILED", "LP solver failed" },
	{ ERR_LP_UNSUPPORTED, "ERR_LP_UNSUPPORTED", "LP shape not supported by this solver" },
	{ ERR_UNKNOWN_POLICY, "ERR_UNKNOWN_POLICY", "unknown scheduling policy" },
	{ ERR_NO_CAPACITY, "ERR_NO_CAPACITY", "cluster cannot run this job" },
};

static const struct err_entry *err_find(int code)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *err_name(int code)
{
	const struct err_entry *e = err_find(code);

	if (e)
		return e->name;
	if (code == 0)
		return "OK";
	/* a negative errno: its symbolic name (glibc >= 2.32) */
	if (code < 0 && code > -4096) {
		const char *name = strerrorname_np(-code);

		if (name)
			return name;
	}
	return "EUNKNOWN";
}

const char *err_str(int code)
{
	const struct err_entry *e = err_find(code);

	if (e)
		return e->msg;
	if (code == 0)
		return "success";
	if (code < 0 && code > ERR_BASE)
		return strerror(-code);
	return "unknown error";
}
