/* SPDX-License-Identifier: MIT */
/* hare-worker: one rank of a job's lease, started by hare-agent: emulated
 * (--emulate), real training (the CUDA engine, loaded at run time), or
 * --profile. */
#include "worker.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct worker_opts o;
	char err[256];
	const char *level = getenv("HARE_LOG_LEVEL");
	int rc;

	if (level && log_level_set(level) < 0)
		fprintf(stderr, "hare-worker: HARE_LOG_LEVEL: unknown level '%s', using info\n", level);
	rc = worker_opts_parse(argc, argv, &o, err, sizeof(err));
	if (rc == 1)
		return WORKER_EXIT_OK;
	if (rc < 0) {
		fprintf(stderr, "hare-worker: %s\n", err);
		return WORKER_EXIT_USAGE;
	}
	if (o.profile)
		return worker_profile_run(&o);
	if (!o.emulate)
		return worker_real_run(&o);
	return worker_emulate_run(&o);
}
