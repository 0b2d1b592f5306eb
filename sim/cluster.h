/* SPDX-License-Identifier: MIT */
/* Cluster files for the simulator: an INI file with one section per node
 * group (GPU type, node count, GPUs per node), turned into a sched_cluster. */
#ifndef HARE_SIM_CLUSTER_H
#define HARE_SIM_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"

struct profile;

/* Limits that keep a hostile file from asking for unbounded memory. */
#define SIM_CLUSTER_MAX_GROUPS 256
#define SIM_CLUSTER_MAX_NODES 4096
#define SIM_CLUSTER_MAX_GPUS_PER_NODE 128
#define SIM_CLUSTER_MAX_GPUS 65536
#define SIM_CLUSTER_PREFIX_LEN 32

/* One section of the file: `nodes` nodes of `gpus_per_node` GPUs of `type`. */
struct sim_node_group {
	char section[SIM_CLUSTER_PREFIX_LEN];
	char name_prefix[SIM_CLUSTER_PREFIX_LEN];
	uint16_t type;		/* index into cluster.type_names */
	uint32_t nodes;
	uint32_t gpus_per_node;
	uint32_t first_node;	/* index of the group's first node */
};

struct sim_cluster {
	struct sched_cluster sched;	/* what policies see */
	uint32_t ngroups;
	struct sim_node_group *groups;
};

/*
 * Load the cluster file at path. GPU types are indexed in order of first
 * appearance and keep the file's spelling; they are matched to the profile
 * case-insensitively (prof may be NULL to accept any name, for tools that
 * only check syntax). Returns 0, -errno if the file cannot be read, -ENOMEM,
 * or ERR_BAD_CONFIG with "path:line: [section] field: reason" in errbuf. On
 * success the caller releases out with sim_cluster_destroy().
 */
int sim_cluster_load(const char *path, const struct profile *prof, struct sim_cluster *out,
		     char *errbuf, size_t errlen);

/* The same over text in memory; name stands for the file in messages. */
int sim_cluster_parse(const char *name, const char *text, const struct profile *prof,
		      struct sim_cluster *out, char *errbuf, size_t errlen);

/* Free what a successful load allocated; safe on a zeroed cluster. */
void sim_cluster_destroy(struct sim_cluster *c);

/* Write node `node`'s name ("<name_prefix><index in group>") into buf. */
void sim_cluster_node_name(const struct sim_cluster *c, uint32_t node, char *buf, size_t len);

#endif
