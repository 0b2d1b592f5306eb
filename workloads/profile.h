/* SPDX-License-Identifier: MIT */
/* Throughput profiles: per model family and GPU type, the measured time of
 * one training step per worker and the synchronisation time, loaded from the
 * shipped table (workloads/profiles/) and validated. */
#ifndef HARE_PROFILE_H
#define HARE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct profile;

/* Directory holding the shipped table, relative to the source tree; the
 * installed location is given by the caller (config). */
#define PROFILE_DEFAULT_DIR "workloads/profiles"

/*
 * Load and validate the profile table from dir (the files described in
 * workloads/profiles/PROVENANCE.md). Returns 0, -errno when a file cannot be
 * read, -ENOMEM, or ERR_BAD_PROFILE with "file:line: reason" in errbuf for a
 * malformed row, an unknown column, a duplicate, a missing (model, type,
 * workers) entry or a non-positive time. The caller frees *out.
 */
int profile_load(const char *dir, struct profile **out, char *errbuf, size_t errlen);

/*
 * profile_load, then the rows of measured (a throughput.csv-format file of
 * GPU types measured on the cluster; NULL or a missing file: none) with the
 * same checks. Measured rows add GPU types only: their rows for a type
 * throughput.csv has are skipped (profile_measured_skipped counts them), and
 * measured types come after the shipped ones, in the file's order.
 */
int profile_load_measured(const char *dir, const char *measured, struct profile **out,
			  char *errbuf, size_t errlen);
uint32_t profile_measured_skipped(const struct profile *p);
/* Whether name can be a GPU type of a profile: 1 to SCHED_TYPE_NAME - 1
 * characters of A-Z a-z 0-9 . _ + - */
bool profile_type_name_ok(const char *name);
/* Whether name is made of those characters only, whatever its length (a
 * GPU an agent names so but longer is known, and not planned on). */
bool profile_type_chars_ok(const char *name);
/* Whether type came from the measured file. */
bool profile_gpu_type_measured(const struct profile *p, uint32_t type);
void profile_free(struct profile *p);

uint32_t profile_model_count(const struct profile *p);
const char *profile_model_name(const struct profile *p, uint32_t model);
/* Model index by name (case-insensitive), or ERR_UNKNOWN_MODEL. */
int profile_model_find(const struct profile *p, const char *name);

uint32_t profile_gpu_type_count(const struct profile *p);
const char *profile_gpu_type_name(const struct profile *p, uint32_t type);
/* GPU type index by name (case-insensitive: "v100", "V100"), or ERR_UNKNOWN_GPU. */
int profile_gpu_type_find(const struct profile *p, const char *name);

/* Reference GPU type for turning durations into rounds ("V100"). */
const char *profile_reference_type(const struct profile *p);

/* Per-task compute seconds of model on the reference type, 1 worker. */
double profile_reference_compute_s(const struct profile *p, uint32_t model);

/*
 * Fill perf for one job of `model` on a cluster whose GPU types are
 * type_names[0..ntypes): compute_s[t] from the profile (0 where the model has
 * no entry for that type), sync_s from the profile's sync times (for a mix of
 * types the largest of the shipped types; measured types' only when no
 * shipped type of the list has the model), restart_s from the model's checkpoint/restore cost.
 * ERR_UNKNOWN_GPU with the name in errbuf if a cluster type is not in the
 * profile at all.
 */
int profile_perf_fill(const struct profile *p, uint32_t model, const char *const *type_names,
		      uint32_t ntypes, struct sched_perf *perf, char *errbuf, size_t errlen);

#endif
