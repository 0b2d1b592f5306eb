/* SPDX-License-Identifier: MIT */
/* What hare-sim's main.c (inputs, the policies' runs, outputs) and
 * main_args.c (the command line) share: the options as parsed. */
#ifndef HARE_SIM_MAIN_IMPL_H
#define HARE_SIM_MAIN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "summary.h"
#include "trace.h"
#include "workload.h"

#define SIM_MAX_POLICIES 16
#define SIM_BAD_NODES_MAX 64

struct sim_args {
	const char *cluster;
	const char *generate;
	const char *trace;
	const char *policies;
	const char *profiles;
	const char *measured;	/* GPU types measured on a cluster (NULL: none) */
	const char *out_dir;
	bool json;
	bool bound;
	bool help;
	bool quiet;
	bool has_window;
	char trace_only[40];	/* the first trace-only option given, for the error */
	struct sim_window window;
	double util_step_s;
	double min_lease_s;	/* < 0: the solver's default */
	double type_slack;	/* < 0: the solver's default */
	uint32_t nbad;		/* --bad-nodes: node indices */
	uint32_t bad[SIM_BAD_NODES_MAX];
	double fail_after_s;	/* --fail-after */
	bool no_avoid;		/* --no-avoid */
	bool own_weights;	/* --own-weights */
	uint32_t max_retries;	/* --max-retries */
	uint32_t quarantine;	/* --quarantine (0: off) */
	uint32_t quarantine_max;	/* --quarantine-max */
	char failure_opt[40];	/* the first of --fail-after, --no-avoid, --max-retries,
				 * --quarantine, --quarantine-max given */
	struct sim_gen_spec spec;
	struct sim_trace_opts topt;
	uint32_t npolicies;
	char policy[SIM_MAX_POLICIES][SIM_POLICY_NAME_LEN];
};

/* main_args.c */
/* Print --help: the policies known, the default --profiles and the solver's
 * defaults in the text. */
void sim_usage_print(void);
/* Parse argv into *a (the defaults first) and check the options together;
 * --help sets a->help and stops there, --version prints and exits. 0, or
 * ERR_BAD_SPEC with why in errbuf. */
int sim_args_parse(int argc, char **argv, struct sim_args *a, char *errbuf, size_t errlen);

#endif
