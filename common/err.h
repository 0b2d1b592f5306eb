/* SPDX-License-Identifier: MIT */
/* Error codes shared by every Hare module: negative errno passes through,
 * Hare's own codes live below ERR_BASE, with names and messages in one table. */
#ifndef HARE_ERR_H
#define HARE_ERR_H

enum {
	ERR_BASE = -10000,
	ERR_PROTO = ERR_BASE,	/* malformed protocol message */
	ERR_FRAME_TOO_BIG,	/* frame length over the configured cap */
	ERR_BAD_SPEC,		/* job specification rejected */
	ERR_BAD_CONFIG,		/* configuration file rejected */
	ERR_BAD_PROFILE,	/* throughput profile rejected */
	ERR_BAD_TRACE,		/* workload trace rejected */
	ERR_UNKNOWN_MODEL,	/* model family not in the profile table */
	ERR_UNKNOWN_GPU,	/* GPU type not in the profile table */
	ERR_LP_INFEASIBLE,	/* LP has no solution (a bug in its rows) */
	ERR_LP_TIMEOUT,		/* LP solve ran past its time budget */
	ERR_LP_FAILED,		/* GLPK returned an error */
	ERR_LP_UNSUPPORTED,	/* this solver cannot handle this LP shape */
	ERR_UNKNOWN_POLICY,	/* no policy of that name */
	ERR_NO_CAPACITY,	/* the cluster cannot ever run this job */
	ERR_END			/* keep last */
};

/* Symbolic name of an error code ("ERR_BAD_SPEC", "ENOENT"); never NULL. */
const char *err_name(int code);

/* Human-readable message for an error code; never NULL. */
const char *err_str(int code);

#endif
