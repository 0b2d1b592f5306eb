/* SPDX-License-Identifier: MIT */
/* hared's metrics for monitoring, in the Prometheus text format, written
 * every metrics_interval_s to metrics_file (a new file renamed over the
 * old, for node_exporter's textfile collector or any scraper). */
#ifndef HARE_DAEMON_METRICS_H
#define HARE_DAEMON_METRICS_H

#include "driver.h"

#include <stdint.h>
#include <stdio.h>

struct hared;

#define METRICS_TYPES_MAX 32		/* GPU types listed; the rest as type="other" */

struct metrics_gpus {
	char type[24];
	uint32_t busy, free, unavailable;
};

/* One reading of the daemon's state. */
struct metrics_sample {
	double now, start_time;			/* unix seconds */
	int up;					/* 0: hared is stopping */
	uint32_t jobs_queued, jobs_backoff, jobs_held, jobs_waiting, jobs_running;
	struct driver_stats drv;		/* plans, reports, ended jobs ... */
	uint64_t submits;
	uint32_t nodes_up, nodes_down, nodes_drained, nodes_unhealthy;
	uint32_t ntypes;
	struct metrics_gpus gpus[METRICS_TYPES_MAX + 1];
	uint64_t store_write_failures;
	uint64_t agent_refused_key, agent_refused_tag, agent_refused_nokey, agent_refused_tls;
	/* TCP sessions: begun in TLS (handshake done), whose TLS failed, and in
	 * the clear on the agent and the client port */
	uint64_t tls_agent, tls_client, failed_agent, failed_client, plain_agent, plain_client;
	const char *type_names[SCHED_MAX_TYPES];	/* of drv.gpu_s */
	uint32_t agents, clients;
};

/* Read the sample from the daemon (loop thread). */
void metrics_gather(struct hared *d, struct metrics_sample *m);

/* Write m in the Prometheus text exposition format (0.0.4). 0, or -EIO
 * when f reports a write error. */
int metrics_format(const struct metrics_sample *m, FILE *f);

/* Gather and write to cfg.metrics_file (path.tmp, then renamed over it);
 * up 0 for the last write at shutdown. 0, or a negative code with the
 * reason in errbuf. No-op without a metrics_file. */
int metrics_write(struct hared *d, int up, char *errbuf, size_t errlen);

#endif
