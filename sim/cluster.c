/* SPDX-License-Identifier: MIT */
/* Cluster file loader: INI sections of node groups -> struct sched_cluster,
 * with "file:line: [section] field: reason" errors for every bad input. */
#include "cluster.h"

#include "config.h"
#include "err.h"
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLUSTER_MAX_FILE_BYTES (1u << 20)

enum { KEY_TYPE = 1, KEY_NODES = 2, KEY_GPUS = 4, KEY_PREFIX = 8 };
#define KEYS_REQUIRED (KEY_TYPE | KEY_NODES | KEY_GPUS)

/* A section header as found by scanning the text (for line numbers). */
struct cluster_header {
	char name[64];
	unsigned line;
};

struct cluster_parse {
	const struct profile *prof;
	struct sim_cluster *c;
	unsigned *seen;		/* per group: KEY_* bits */
	struct cluster_header *headers;
	uint32_t nheaders;
};

/* Find the group of `section`, creating it (in file order) if new. */
static struct sim_node_group *cluster_group_get(struct cluster_parse *p, const char *section,
						char *err, size_t errlen)
{
	struct sim_cluster *c = p->c;

	for (uint32_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].section, section) == 0)
			return &c->groups[i];
	if (section[0] == '\0') {
		snprintf(err, errlen, "key outside any [section]");
		return NULL;
	}
	if (strlen(section) >= SIM_CLUSTER_PREFIX_LEN) {
		snprintf(err, errlen, "[%.40s]: section name longer than %d characters", section,
			 SIM_CLUSTER_PREFIX_LEN - 1);
		return NULL;
	}
	if (c->ngroups >= SIM_CLUSTER_MAX_GROUPS) {
		snprintf(err, errlen, "more than %d node groups", SIM_CLUSTER_MAX_GROUPS);
		return NULL;
	}
	struct sim_node_group *g = &c->groups[c->ngroups];

	memset(g, 0, sizeof(*g));
	snprintf(g->section, sizeof(g->section), "%s", section);
	p->seen[c->ngroups] = 0;
	c->ngroups++;
	return g;
}

/* Index of GPU type `name` in the cluster, adding it if new. */
static int cluster_type_index(struct cluster_parse *p, const char *name, char *err, size_t errlen)
{
	struct sched_cluster *s = &p->c->sched;

	if (name[0] == '\0') {
		snprintf(err, errlen, "empty GPU type");
		return ERR_BAD_CONFIG;
	}
	if (p->prof && profile_gpu_type_find(p->prof, name) < 0) {
		snprintf(err, errlen, "unknown GPU type '%.32s' (not in the profile)", name);
		return ERR_UNKNOWN_GPU;
	}
	if (strlen(name) >= SCHED_TYPE_NAME) {
		snprintf(err, errlen, "GPU type name longer than %d characters", SCHED_TYPE_NAME - 1);
		return ERR_BAD_CONFIG;
	}
	for (uint32_t t = 0; t < s->ntypes; t++)
		if (strcasecmp(s->type_names[t], name) == 0)
			return (int)t;
	if (s->ntypes >= SCHED_MAX_TYPES) {
		snprintf(err, errlen, "more than %d GPU types", SCHED_MAX_TYPES);
		return ERR_BAD_CONFIG;
	}
	snprintf(s->type_names[s->ntypes], SCHED_TYPE_NAME, "%s", name);
	return (int)s->ntypes++;
}

static int cluster_prefix_check(const char *value, char *err, size_t errlen)
{
	size_t n = strlen(value);

	if (n == 0 || n >= SIM_CLUSTER_PREFIX_LEN) {
		snprintf(err, errlen, "must be 1 to %d characters", SIM_CLUSTER_PREFIX_LEN - 1);
		return ERR_BAD_CONFIG;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)value[i];

		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
			snprintf(err, errlen, "may hold only letters, digits, '-', '_' and '.'");
			return ERR_BAD_CONFIG;
		}
	}
	return 0;
}

/* Apply one key of a group; err gets the reason without the field name. */
static int cluster_key_apply(struct cluster_parse *p, struct sim_node_group *g, unsigned key,
			     const char *value, char *err, size_t errlen)
{
	int rc;

	switch (key) {
	case KEY_TYPE:
		rc = cluster_type_index(p, value, err, errlen);
		if (rc >= 0)
			g->type = (uint16_t)rc;
		return rc < 0 ? rc : 0;
	case KEY_NODES:
		return config_parse_u32(value, 1, SIM_CLUSTER_MAX_NODES, &g->nodes, err, errlen);
	case KEY_GPUS:
		return config_parse_u32(value, 1, SIM_CLUSTER_MAX_GPUS_PER_NODE, &g->gpus_per_node,
					err, errlen);
	default:
		rc = cluster_prefix_check(value, err, errlen);
		if (rc == 0)
			snprintf(g->name_prefix, sizeof(g->name_prefix), "%s", value);
		return rc;
	}
}

static unsigned cluster_key_bit(const char *key)
{
	static const struct { const char *name; unsigned bit; } keys[] = {
		{ "type", KEY_TYPE }, { "nodes", KEY_NODES },
		{ "gpus_per_node", KEY_GPUS }, { "name_prefix", KEY_PREFIX },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].name) == 0)
			return keys[i].bit;
	return 0;
}

static int cluster_on_key(void *user, const char *section, const char *key, const char *value,
			  char *err, size_t errlen)
{
	struct cluster_parse *p = user;
	struct sim_node_group *g = cluster_group_get(p, section, err, errlen);
	char reason[200] = "";
	unsigned bit;
	int rc;

	if (!g)
		return ERR_BAD_CONFIG;
	bit = cluster_key_bit(key);
	if (bit == 0) {
		snprintf(err, errlen, "[%s] %.40s: unknown key (expected type, nodes, gpus_per_node, "
			 "name_prefix)", section, key);
		return ERR_BAD_CONFIG;
	}
	if (p->seen[g - p->c->groups] & bit) {
		snprintf(err, errlen, "[%s] %s: given twice", section, key);
		return ERR_BAD_CONFIG;
	}
	p->seen[g - p->c->groups] |= bit;
	rc = cluster_key_apply(p, g, bit, value, reason, sizeof(reason));
	if (rc < 0)
		snprintf(err, errlen, "[%s] %s: %s", section, key, reason);
	return rc < 0 ? ERR_BAD_CONFIG : 0;
}

/* Record the section headers of text with their line numbers, the way inih
 * sees them (first non-blank character '[', name up to ']'). */
static int cluster_headers_scan(const char *text, struct cluster_parse *p)
{
	unsigned line = 0;

	if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
	    (unsigned char)text[2] == 0xBF)
		text += 3;
	while (*text) {
		const char *eol = strchr(text, '\n');
		const char *s = text, *close;
		size_t len = eol ? (size_t)(eol - text) : strlen(text);

		line++;
		while (s < text + len && isspace((unsigned char)*s))
			s++;
		close = s < text + len && *s == '[' ? memchr(s, ']', len - (size_t)(s - text)) : NULL;
		if (close && p->nheaders < SIM_CLUSTER_MAX_GROUPS + 1) {
			struct cluster_header *h = &p->headers[p->nheaders++];
			size_t n = (size_t)(close - s - 1);

			if (n >= sizeof(h->name))
				n = sizeof(h->name) - 1;
			memcpy(h->name, s + 1, n);
			h->name[n] = '\0';
			h->line = line;
		}
		text += len + (eol ? 1 : 0);
	}
	return 0;
}

static unsigned cluster_header_line(const struct cluster_parse *p, const char *section)
{
	for (uint32_t i = 0; i < p->nheaders; i++)
		if (strcmp(p->headers[i].name, section) == 0)
			return p->headers[i].line;
	return 0;
}

static int cluster_fail(const char *name, unsigned line, const char *msg, char *errbuf,
			size_t errlen)
{
	if (line > 0)
		snprintf(errbuf, errlen, "%s:%u: %s", name, line, msg);
	else
		snprintf(errbuf, errlen, "%s: %s", name, msg);
	return ERR_BAD_CONFIG;
}

/* After parsing: every header named once, every group complete. */
static int cluster_groups_check(const char *name, const struct cluster_parse *p, char *errbuf,
				size_t errlen)
{
	static const char *const key_names[] = { "type", "nodes", "gpus_per_node" };
	const struct sim_cluster *c = p->c;
	char msg[160];

	for (uint32_t i = 0; i < p->nheaders; i++) {
		const struct cluster_header *h = &p->headers[i];
		uint32_t g;

		for (g = 0; g < i; g++)
			if (strcmp(p->headers[g].name, h->name) == 0)
				break;
		if (g < i || i >= SIM_CLUSTER_MAX_GROUPS) {
			snprintf(msg, sizeof(msg), "[%.40s]: %s", h->name,
				 g < i ? "duplicate section" : "too many node groups");
			return cluster_fail(name, h->line, msg, errbuf, errlen);
		}
		for (g = 0; g < c->ngroups; g++)
			if (strcmp(c->groups[g].section, h->name) == 0)
				break;
		unsigned seen = g < c->ngroups ? p->seen[g] : 0;

		for (unsigned k = 0; k < 3; k++) {
			if (seen & (1u << k))
				continue;
			snprintf(msg, sizeof(msg), "[%.40s] %s: missing key", h->name, key_names[k]);
			return cluster_fail(name, h->line, msg, errbuf, errlen);
		}
	}
	for (uint32_t g = 0; g < c->ngroups; g++) {
		if ((p->seen[g] & KEYS_REQUIRED) == KEYS_REQUIRED)
			continue;
		snprintf(msg, sizeof(msg), "[%s]: missing keys", c->groups[g].section);
		return cluster_fail(name, cluster_header_line(p, c->groups[g].section), msg, errbuf,
				    errlen);
	}
	if (c->ngroups == 0)
		return cluster_fail(name, 0, "no node groups (need a [section] with type, nodes and "
				    "gpus_per_node)", errbuf, errlen);
	return 0;
}

/* Lay the GPUs out grouped by node, in file order. */
static int cluster_build(const char *name, const struct cluster_parse *p, char *errbuf, size_t errlen)
{
	struct sim_cluster *c = p->c;
	uint64_t ngpus = 0, nnodes = 0;

	for (uint32_t g = 0; g < c->ngroups; g++) {
		ngpus += (uint64_t)c->groups[g].nodes * c->groups[g].gpus_per_node;
		if (ngpus > SIM_CLUSTER_MAX_GPUS) {
			char msg[96];

			snprintf(msg, sizeof(msg), "[%s]: cluster larger than %d GPUs",
				 c->groups[g].section, SIM_CLUSTER_MAX_GPUS);
			return cluster_fail(name, cluster_header_line(p, c->groups[g].section), msg,
					    errbuf, errlen);
		}
	}
	c->sched.gpus = calloc((size_t)ngpus, sizeof(*c->sched.gpus));
	if (!c->sched.gpus) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	c->sched.ngpus = (uint32_t)ngpus;
	ngpus = 0;
	for (uint32_t g = 0; g < c->ngroups; g++) {
		struct sim_node_group *grp = &c->groups[g];

		if (grp->name_prefix[0] == '\0')
			snprintf(grp->name_prefix, sizeof(grp->name_prefix), "%s", grp->section);
		grp->first_node = (uint32_t)nnodes;
		for (uint32_t n = 0; n < grp->nodes; n++, nnodes++)
			for (uint32_t k = 0; k < grp->gpus_per_node; k++, ngpus++) {
				c->sched.gpus[ngpus].type = grp->type;
				c->sched.gpus[ngpus].node = (uint32_t)nnodes;
				c->sched.gpus[ngpus].up = true;
			}
	}
	c->sched.nnodes = (uint32_t)nnodes;
	return 0;
}

int sim_cluster_parse(const char *name, const char *text, const struct profile *prof,
		      struct sim_cluster *out, char *errbuf, size_t errlen)
{
	struct cluster_parse p = { .prof = prof, .c = out };
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	out->groups = calloc(SIM_CLUSTER_MAX_GROUPS, sizeof(*out->groups));
	p.seen = calloc(SIM_CLUSTER_MAX_GROUPS, sizeof(*p.seen));
	p.headers = calloc(SIM_CLUSTER_MAX_GROUPS + 1, sizeof(*p.headers));
	if (!out->groups || !p.seen || !p.headers) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		goto out;
	}
	cluster_headers_scan(text, &p);
	rc = config_load_string(name, text, cluster_on_key, &p, errbuf, errlen);
	if (rc == 0)
		rc = cluster_groups_check(name, &p, errbuf, errlen);
	if (rc == 0)
		rc = cluster_build(name, &p, errbuf, errlen);
out:
	free(p.seen);
	free(p.headers);
	if (rc < 0)
		sim_cluster_destroy(out);
	return rc;
}

/* Read a whole (small) file into a NUL-terminated buffer. */
static int cluster_file_read(const char *path, char **text, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	*text = malloc(CLUSTER_MAX_FILE_BYTES + 1);
	if (!*text) {
		fclose(f);
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	errno = 0;
	n = fread(*text, 1, CLUSTER_MAX_FILE_BYTES + 1, f);
	rc = ferror(f) ? -(errno ? errno : EIO) : 0;
	fclose(f);
	if (rc == 0 && n > CLUSTER_MAX_FILE_BYTES) {
		snprintf(errbuf, errlen, "%s: file larger than 1 MiB", path);
		rc = ERR_BAD_CONFIG;
	} else if (rc == 0 && memchr(*text, '\0', n)) {
		snprintf(errbuf, errlen, "%s: file holds a NUL byte", path);
		rc = ERR_BAD_CONFIG;
	} else if (rc < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
	}
	if (rc < 0) {
		free(*text);
		*text = NULL;
		return rc;
	}
	(*text)[n] = '\0';
	return 0;
}

int sim_cluster_load(const char *path, const struct profile *prof, struct sim_cluster *out,
		     char *errbuf, size_t errlen)
{
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cluster_file_read(path, &text, errbuf, errlen);
	if (rc < 0)
		return rc;
	rc = sim_cluster_parse(path, text, prof, out, errbuf, errlen);
	free(text);
	return rc;
}

void sim_cluster_destroy(struct sim_cluster *c)
{
	free(c->sched.gpus);
	free(c->groups);
	memset(c, 0, sizeof(*c));
}

void sim_cluster_node_name(const struct sim_cluster *c, uint32_t node, char *buf, size_t len)
{
	for (uint32_t g = 0; g < c->ngroups; g++) {
		const struct sim_node_group *grp = &c->groups[g];

		if (node >= grp->first_node && node < grp->first_node + grp->nodes) {
			snprintf(buf, len, "%s%u", grp->name_prefix, node - grp->first_node);
			return;
		}
	}
	snprintf(buf, len, "node%u", node);
}
