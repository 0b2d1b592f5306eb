/* SPDX-License-Identifier: MIT */
/* hare-worker: the options one worker (one rank of a job's lease) runs
 * with, and its modes: emulated (sleeps the profiled round time) and, in a
 * CUDA build, real training. */
#ifndef HARE_WORKER_H
#define HARE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define WORKER_NAME_MAX 64
#define WORKER_PATH_MAX 1024
#define WORKER_LIST_MAX 128

/* Exit codes: 0 done or stopped, 1 runtime failure, 2 bad flags, 75 a peer
 * rank or the network failed (REPORT_EXIT_PEER: hared charges no node). */
enum { WORKER_EXIT_OK = 0, WORKER_EXIT_FAILED = 1, WORKER_EXIT_USAGE = 2,
       WORKER_EXIT_PEER = REPORT_EXIT_PEER };

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
	/* real mode (without --emulate) */
	char engine[16];	/* "cuda" (default) or "cpu" (the float64 reference) */
	char proxy[256];	/* --proxy KEY=VALUE,... size overrides of the model */
	char lib[WORKER_PATH_MAX];	/* libhare_worker_cuda.so; "" = next to the binary */
	int device;		/* CUDA device ordinal (after CUDA_VISIBLE_DEVICES) */
	char checkpoint_dir[WORKER_PATH_MAX];	/* "" = no checkpoints */
	bool checkpoint_dir_default;	/* derived from HARE_JOB_ID; emptied at the job's end */
	uint64_t checkpoint_every;	/* rounds between checkpoints; 0 = by time only */
	double checkpoint_s;	/* seconds between checkpoints; 0 = only at the end */
	uint32_t checkpoint_keep;	/* newest files kept */
	char nccl_id_file[WORKER_PATH_MAX];	/* where the rendezvous line is shared */
	double rendezvous_timeout_s;
	/* --profile */
	bool profile;
	char profile_batches[WORKER_LIST_MAX];	/* "16,32,64"; "" = the model's batch x 1/4..2 */
	char profile_workers[WORKER_LIST_MAX];	/* "1,2,4,8"; "" = powers of 2 up to the GPUs */
	uint32_t profile_iters;	/* timed steps per point */
	double profile_busbw_gbs;	/* bus bandwidth assumed when no 2 GPUs can be measured */
	uint32_t parent_pid;	/* end with this process, the parent (0: no) */
	double orphan_timeout_s;	/* stop when nobody read the reports this long (0: never) */
	double progress_s;		/* a progress line on stderr this often (0: none) */
};

/* Progress lines for the job's output (stderr, which the agent keeps per
 * rank): every progress_s of wall time, the round reached, the loss and the
 * mean round time since the last line. */
struct worker_progress {
	double last_s;			/* monotonic seconds of the last line (or start) */
	uint64_t rounds;		/* rounds since then */
	double compute_s, sync_s;	/* their sums */
};

void worker_progress_init(struct worker_progress *p, double now_s);
/* Count round `round` (done at now_s, monotonic); writes the line when due. */
void worker_progress_round(struct worker_progress *p, const struct worker_opts *o, uint64_t round,
			   double compute_s, double sync_s, double loss, double now_s);

/*
 * Parse argv into *o (defaults first). Returns 0; 1 when --help was asked
 * (usage already printed to stdout); or -EINVAL with a one-line reason in
 * err. Checks ranges and the cross-field rules (rank < world size, tasks <=
 * job tasks, round_s > 0 when emulating, report fd open; without --emulate:
 * a known model and valid --proxy sizes; --profile needs only --model).
 * Without the flags, HARE_CHECKPOINT_DIR and HARE_NCCL_ID_FILE give the
 * checkpoint directory and the rendezvous file; a real worker started by an
 * agent (HARE_JOB_ID set) without either checkpoints to checkpoints/JOB.
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

/*
 * Real training (CUDA engine loaded at run time, or --engine cpu): the
 * proxy model of o->model, data-parallel rounds, checkpoints, report lines.
 * Returns a WORKER_EXIT_* code; prints the reason of a failure.
 */
int worker_real_run(const struct worker_opts *o);

/*
 * --profile: time the proxy model's step at several batch sizes and the
 * gradient all-reduce on the GPUs present, and print throughput.csv rows.
 * Returns a WORKER_EXIT_* code.
 */
int worker_profile_run(const struct worker_opts *o);

/* Parse a comma-separated list of whole numbers 1..max into out (at most
 * cap). Returns the count, or -EINVAL. */
int worker_list_parse(const char *s, uint32_t max, uint32_t *out, int cap);

/* The emulated loss after `round` (0-based, absolute): decreasing with the
 * round, with a small deterministic wobble drawn from (seed, round). */
double worker_emulated_loss(uint64_t seed, uint64_t round);

#endif
