/* SPDX-License-Identifier: MIT */
/* Fuzz target for hare-sim's cluster INI parser (sim/cluster.c): any bytes
 * must give a cluster or a one-line error, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The shipped profile, loaded once; without it types are not checked. */
static const struct profile *fuzz_profile(void)
{
	static struct profile *prof;
	static int tried;
	char err[256];

	if (!tried) {
		tried = 1;
		if (profile_load(HARE_SOURCE_DIR "/workloads/profiles", &prof, err, sizeof(err)) != 0)
			prof = NULL;
	}
	return prof;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_cluster c;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sim_cluster_parse("fuzz.ini", text, fuzz_profile(), &c, err, sizeof(err)) == 0) {
		if (c.sched.ngpus == 0 || c.sched.ntypes == 0 || c.sched.ntypes > SCHED_MAX_TYPES)
			abort();	/* a loaded cluster always has GPUs */
		for (uint32_t g = 0; g < c.sched.ngpus; g++)
			if (c.sched.gpus[g].type >= c.sched.ntypes || c.sched.gpus[g].node >= c.sched.nnodes)
				abort();
		sim_cluster_destroy(&c);
	} else if (strchr(err, '\n') || strncmp(err, "fuzz.ini", 8) != 0) {
		abort();	/* errors are one line naming the file */
	}
	free(text);
	return 0;
}
