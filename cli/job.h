/* SPDX-License-Identifier: MIT */
/* A job submission as harectl builds it, from flags or from an INI job file
 * (one [job] section per job), validated before anything is sent. */
#ifndef HARE_CLI_JOB_H
#define HARE_CLI_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hare.pb-c.h"

#define CLI_JOB_NAME_MAX 63		/* bytes */
#define CLI_JOB_MODEL_MAX 31
#define CLI_JOB_TYPES_MAX 16		/* allowed GPU types per job */
#define CLI_JOB_TYPE_MAX 15		/* bytes of one type name */
#define CLI_JOB_COMMAND_MAX 511
#define CLI_JOB_PROXY_MAX 255
#define CLI_JOB_GPUS_MAX 64
#define CLI_JOB_ROUNDS_MAX 1000000000000ull
#define CLI_JOB_WEIGHT_MAX 1e6
#define CLI_JOB_AFTER_MAX 16		/* jobs one runs after */
#define CLI_JOBFILE_JOBS_MAX 1000
#define CLI_JOBFILE_BYTES_MAX (1u << 20)
#define CLI_ARRAY_MAX 1000		/* jobs of one submit --array */
#define CLI_ARRAY_INDEX_MAX 999999
#define CLI_JOBFILE_LINE_MAX 1024	/* bytes of a line without its CR/LF (a command of 511 fits) */

/* The keys of a job; flags are "--" + name, job files may also write '_'. */
enum cli_job_key {
	CLI_KEY_NAME,
	CLI_KEY_MODEL,
	CLI_KEY_GPUS,
	CLI_KEY_MIN_GPUS,
	CLI_KEY_MAX_GPUS,
	CLI_KEY_ROUNDS,
	CLI_KEY_WEIGHT,
	CLI_KEY_GPU_TYPES,
	CLI_KEY_COMMAND,
	CLI_KEY_PROXY,
	CLI_KEY_AFTER,
	CLI_KEY_COUNT
};

/* How a job it runs after must end ("41", "any:41", "notok:41"). */
enum cli_after_kind {
	CLI_AFTER_OK = 0,	/* DONE (JobSpec.after) */
	CLI_AFTER_ANY = 1,	/* however (JobSpec.after_any) */
	CLI_AFTER_NOTOK = 2,	/* CANCELLED or FAILED (JobSpec.after_notok) */
};

struct cli_job {
	char name[CLI_JOB_NAME_MAX + 1];
	char model[CLI_JOB_MODEL_MAX + 1];
	uint32_t gpus;			/* tasks per round (GPUs at full width) */
	uint32_t min_gpus, max_gpus;	/* meaningful when set */
	uint64_t rounds;
	double weight;			/* 1 unless set */
	uint32_t ntypes;		/* 0: any type */
	char types[CLI_JOB_TYPES_MAX][CLI_JOB_TYPE_MAX + 1];
	char command[CLI_JOB_COMMAND_MAX + 1];
	char proxy[CLI_JOB_PROXY_MAX + 1];	/* hare-worker --proxy sizes */
	uint32_t nafter;		/* jobs it runs after, in the order given */
	uint64_t after[CLI_JOB_AFTER_MAX];	/* job ids (0 where after_ref names a job) */
	int32_t after_ref[CLI_JOB_AFTER_MAX];	/* job file: index of the earlier [job] it
						 * named; -1 for an id */
	uint8_t after_kind[CLI_JOB_AFTER_MAX];	/* enum cli_after_kind of each */
	uint32_t set;			/* bit (1 << enum cli_job_key) per key given */
	int line;			/* job file: line of its [job] header; 0 from flags */
	int key_line[CLI_KEY_COUNT];	/* job file: line of each key given; 0 from flags */
};

void cli_job_init(struct cli_job *j);

/* The canonical name of a key ("min-gpus"). */
const char *cli_job_key_name(enum cli_job_key key);

/* Key index of name ("min-gpus", "min_gpus" or "--min-gpus"), or -1. */
int cli_job_key_find(const char *name);

/*
 * Set one key from its text. `label` names the key in messages as the user
 * wrote it ("--gpus", "min_gpus"). Returns 0, -EINVAL for an unknown key, or
 * ERR_BAD_SPEC with a one-line reason in err ("--gpus must be between 1 and
 * 64, got 0", "gpus given twice"). after's items are job ids; from a flag
 * ("--" label) nothing else is taken, while a job file's other items are
 * names of earlier [job] sections, which cli_jobfile_parse resolves.
 */
int cli_job_set(struct cli_job *j, const char *label, const char *value, char *err, size_t errlen);

/* Whether key was given. */
bool cli_job_has(const struct cli_job *j, enum cli_job_key key);

/*
 * Check the job as a whole: model, gpus and rounds given, and min-gpus <=
 * max-gpus <= gpus. Keys are named with `prefix` before them ("--" for
 * flags, "" for files). 0, or ERR_BAD_SPEC with the reason in err and, when
 * blame is not NULL, in *blame the key the reason names first (the one to
 * change), or CLI_KEY_COUNT for a missing key.
 */
int cli_job_check(const struct cli_job *j, const char *prefix, enum cli_job_key *blame, char *err,
		  size_t errlen);

/* What a JobSpec filled by cli_job_to_spec points into besides its job;
 * the caller's, alive as long as the spec. */
struct cli_spec_refs {
	char *types[CLI_JOB_TYPES_MAX];
	uint64_t after[CLI_JOB_AFTER_MAX];
};

/*
 * Fill spec from a checked job. ids are the ids hared gave the jobs of j's
 * file so far, by index (NULL for a job from flags): an after item naming an
 * earlier [job] is sent as that job's id. spec's strings point into j and
 * refs, so both must outlive spec; nothing is allocated.
 */
void cli_job_to_spec(const struct cli_job *j, const uint64_t *ids, Hare__JobSpec *spec,
		     struct cli_spec_refs *refs);

/*
 * submit --array: "0-9", "1,3,8-12", "0-99:10" (every 10th), each index
 * 0..CLI_ARRAY_INDEX_MAX, at most CLI_ARRAY_MAX in all, none twice, kept
 * in the order given. 0, or ERR_BAD_SPEC with the reason in err.
 */
int cli_array_parse(const char *spec, uint32_t *idx, uint32_t *n, char *err, size_t errlen);

/*
 * The jobs of an array: for each index, a copy of j (from flags, checked)
 * whose name has "%a" replaced by the index, or, without "%a", "-INDEX"
 * added (no name: MODEL-INDEX), and whose command, if any, starts with
 * "HARE_ARRAY_INDEX=I HARE_ARRAY_COUNT=N; export HARE_ARRAY_INDEX
 * HARE_ARRAY_COUNT; ". 0 with *out (free()), -ENOMEM, or ERR_BAD_SPEC with
 * the reason in err (a name or command grown too long).
 */
int cli_array_expand(const struct cli_job *j, const uint32_t *idx, uint32_t n, struct cli_job **out,
		     char *err, size_t errlen);

/*
 * Parse the text of a job file: one [job] section per job, keys as above,
 * by the INI rules, in lines of at most CLI_JOBFILE_LINE_MAX bytes. `name`
 * is the file name used in messages. Every job is checked, and the
 * names in its after list are resolved to earlier [job] sections (each name
 * must be that of exactly one). Returns 0 with *jobs (free()) and *njobs >=
 * 1, or -ENOMEM, or ERR_BAD_SPEC with "name:line: reason" in errbuf (the
 * key's line; of keys that disagree, the one cli_job_check blames; the
 * job's [job] line for a missing key).
 */
int cli_jobfile_parse(const char *name, const char *text, struct cli_job **jobs, uint32_t *njobs,
		      char *errbuf, size_t errlen);

/* Read path (at most CLI_JOBFILE_BYTES_MAX bytes; "-" is standard input,
 * named "<stdin>" in messages) and parse it as above; -errno with
 * "path: reason" when it cannot be read, ERR_BAD_SPEC when it is too large or
 * not text. */
int cli_jobfile_load(const char *path, struct cli_job **jobs, uint32_t *njobs, char *errbuf, size_t errlen);

#endif
