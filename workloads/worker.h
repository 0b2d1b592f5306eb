/* SPDX-License-Identifier: MIT */
/* hare-worker: the options one worker (one rank of a job's lease) runs
 * with, and its modes: emulated (sleeps the profiled round time) and, in a
 * CUDA build, real training. */
#ifndef HARE_WORKER_H
#define HARE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_NAME_MAX 64

/* Exit codes: 0 done or stopped, 1 runtime failure, 2 bad flags. */
enum { WORKER_EXIT_OK = 0, WORKER_EXIT_FAILED = 1, WORKER_EXIT_USAGE = 2 };

struct worker_opts {
	uint64_t job_id;
	uint64_t lease_id;
	uint32_t rank;
	uint32_t world_size;
	char model[WORKER_NAME_MAX];
	char gpu_type[WORKER_NAME_MAX];
	uint32_t tasks;		/* micro-batches this rank runs per round */
	uint32_t job_tasks;	/* micro-batches per round, whole job */
	uint64_t round_first;	/* absolute index of the first round to run */
	uint64_t round_count;	/* rounds to run */
	double round_s;		/* emulated: whole round, profile seconds */
	double compute_s;	/* emulated: one task's compute, profile seconds */
	double restart_s;	/* emulated: restore cost before the first round */
	double time_scale;	/* emulated: wall seconds = profile seconds / scale */
	double noise_cv;	/* emulated: straggler noise, coefficient of variation */
	uint64_t seed;
	int report_fd;
	uint32_t report_ms;	/* batch reports of rounds faster than this */
	double report_wait_s;	/* how long to retry a final line nobody reads */
	bool emulate;
};

/*
 * Parse argv into *o (defaults first). Returns 0; 1 when --help was asked
 * (usage already printed to stdout); or -EINVAL with a one-line reason in
 * err. Checks ranges and the cross-field rules (rank < world size, tasks <=
 * job tasks, round_s > 0 when emulating, report fd open).
 */
int worker_opts_parse(int argc, char **argv, struct worker_opts *o, char *err, size_t errlen);

/*
 * The emulated worker: sleeps restart_s / scale, then each round for
 * round_s / scale times the round's noise factor against an absolute
 * monotonic deadline, writing report lines to o->report_fd; ends with
 * "done N", or "stopped N" on SIGTERM/SIGINT. Returns a WORKER_EXIT_* code.
 */
int worker_emulate_run(const struct worker_opts *o);

/*
 * Noise factor of a round: 1 + cv * N(0,1) clamped to [0.5, 3], drawn from a
 * generator seeded by (seed, round) alone, so every rank of a lease draws the
 * same value for the same round.
 */
double worker_noise_factor(uint64_t seed, uint64_t round, double cv);

/* The emulated loss after `round` (0-based, absolute): decreasing with the
 * round, with a small deterministic wobble drawn from (seed, round). */
double worker_emulated_loss(uint64_t seed, uint64_t round);

#endif
