/* SPDX-License-Identifier: MIT */
/* What the profile loader's files share: profile.c (the table, its checks,
 * the public calls) and profile_csv.c (the CSV reader, the rows of
 * models.csv and throughput.csv). */
#ifndef HARE_PROFILE_IMPL_H
#define HARE_PROFILE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

#define PROFILE_MAX_MODELS 256
#define PROFILE_MAX_TYPES 32
#define PROFILE_MAX_ALIASES 4

/* One (model, GPU type): compute time and the sync table, with the line of
 * each row seen (0: none yet) for duplicate and hole reports. */
struct profile_entry {
	double compute_s;
	double sync_s[SCHED_SYNC_POINTS][2];
	uint32_t line[SCHED_SYNC_POINTS][2];
	uint32_t first_line;
	bool measured;		/* its rows come from the measured file */
};

struct profile_model {
	char name[SCHED_NAME_LEN];
	char family[SCHED_NAME_LEN];
	char aliases[PROFILE_MAX_ALIASES][SCHED_NAME_LEN];
	uint32_t naliases;
	uint32_t per_task_batch;
	double params_m;
	double restart_s;
	uint32_t line;
};

struct profile {
	uint32_t nmodels;
	uint32_t ntypes;
	struct profile_model models[PROFILE_MAX_MODELS];
	char types[PROFILE_MAX_TYPES][SCHED_TYPE_NAME];
	struct profile_entry *entries;	/* nmodels * PROFILE_MAX_TYPES */
	uint32_t nshipped;		/* types [0, nshipped) are throughput.csv's */
	uint32_t measured_skipped;	/* measured rows of a type throughput.csv has */
};

/* profile.c */
/* Names: 1..len-1 characters of [A-Za-z0-9._+-]. */
bool profile_name_ok(const char *s, size_t len);
/* Whether name is m's name or one of its aliases (case-insensitive). */
bool profile_model_matches(const struct profile_model *m, const char *name);
/* Index of the model called name (or with that alias), or -1. */
int profile_model_index(const struct profile *p, const char *name);
/* The entry of model m on GPU type t. */
struct profile_entry *profile_entry_at(const struct profile *p, uint32_t m, uint32_t t);

/* profile_csv.c */
/* "path:line: " and the message into errbuf; returns ERR_BAD_PROFILE. */
int profile_err(char *errbuf, size_t errlen, const char *path, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The models of models.csv at path into p (p->nmodels of them): 0, -errno
 * or ERR_BAD_PROFILE with "path:line: reason" in errbuf. */
int profile_models_read(struct profile *p, const char *path, char *errbuf, size_t errlen);
/* Rows of throughput.csv, or of the measured file (measured): those add
 * GPU types only, so their rows for a type throughput.csv has are skipped;
 * a measured file that does not exist has none. 0, -errno or
 * ERR_BAD_PROFILE with "path:line: reason" in errbuf. */
int profile_throughput_read(struct profile *p, const char *path, bool measured,
			    char *errbuf, size_t errlen);

#endif
