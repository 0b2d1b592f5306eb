/* SPDX-License-Identifier: MIT */
/* What the files of harectl's job specifications share: job.c (keys, their
 * checks, JobSpec) and job_file.c (the job-file reader). */
#ifndef HARE_CLI_JOB_IMPL_H
#define HARE_CLI_JOB_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* after_ref of a job file's item that names a [job], until it is resolved */
#define CLI_AFTER_NAMED (-2)

/* job.c */
/* The next item of the comma-separated list at *p, without the spaces
 * around it: *item and *n; *p moves past its comma, or to NULL after the
 * last item. */
void cli_list_next(const char **p, const char **item, size_t *n);
/* The kind prefix of an after item ("any:41"): its kind, and s and n
 * moved past it; none: CLI_AFTER_OK, unmoved. */
uint8_t cli_job_after_kind(const char **s, size_t *n);

#endif
