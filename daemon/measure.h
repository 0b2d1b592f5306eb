/* SPDX-License-Identifier: MIT */
/* Measuring GPU types the profile lacks: hared asks one agent that has such
 * GPUs to run hare-worker --profile on them (ProfileRequest), keeps the rows
 * it sends back (ProfileResult) in state_dir/measured-throughput.csv, and
 * from then on plans on those GPUs with the measured times. */
#ifndef HARE_DAEMON_MEASURE_H
#define HARE_DAEMON_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "hare.pb-c.h"

struct hared;
struct measure;

/* The measured file under state_dir. */
#define MEASURE_FILE "measured-throughput.csv"

/*
 * Models agents are asked to measure: cfg.measure_models checked against
 * the profile (empty: every model). 0, -ENOMEM, or ERR_BAD_CONFIG with the
 * reason in errbuf.
 */
int measure_new(struct hared *d, struct measure **out, char *errbuf, size_t errlen);
void measure_free(struct measure *m);

/* An agent registered (again): its GPU types the profile lacks are measured
 * on it or on another node that has them, one node per type at a time. */
void measure_on_register(struct measure *m, uint32_t agent_id, const Hare__Register *reg);

/* Its session ended: a type it was measuring is asked of another node. */
void measure_on_detach(struct measure *m, uint32_t agent_id);

/* A ProfileResult from an agent: rows for one of its unmeasured types are
 * checked, saved (fsync'd) and put to use; anything else is logged. */
void measure_on_result(struct measure *m, uint32_t agent_id, const Hare__ProfileResult *r);

/* A node became fit to measure on (undrained; its health check passes
 * again): types nobody measures are asked of it, or of another node. */
void measure_on_node_fit(struct measure *m);

/* A node may have turned unfit (drained, its health check fails): one
 * that measures a type is told to stop (ProfileCancel, once; an older
 * agent that takes none runs to the end, and its rows are not kept); the
 * type is asked of a fit node once it answered. */
void measure_on_node_unfit(struct measure *m);

/* Where the measurement of GPU type name stands, for a user's message:
 * "node n3 measures it now", "no node can measure it now: ...", ... NULL
 * when m does not track the type. */
const char *measure_status(struct measure *m, const char *name, char *buf, size_t len);


#endif
