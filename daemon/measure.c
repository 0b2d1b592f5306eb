/* SPDX-License-Identifier: MIT */
/* Measuring GPU types the profile lacks (measure.h): which node measures
 * which type, and keeping what they measured. One node per type at a time;
 * a node whose measuring failed is not asked again in the same session. */
#include "measure.h"

#include "conn.h"
#include "driver.h"
#include "err.h"
#include "fileio.h"
#include "hared.h"
#include "log.h"
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MEASURE_MAX_TYPES 16
#define MEASURE_MAX_MODELS 32
#define MEASURE_MAX_ROWS 4096
#define MEASURE_MAX_S 3600.0	/* a step or an all-reduce longer than this is no measurement */
#define MEASURE_FILE_MAX (16u << 20)
#define MEASURE_HEADER "model,gpu_type,workers,placement,compute_s,sync_s,source\n"

/* A node's part in measuring a type. */
enum measure_state {
	MEASURE_IDLE,		/* has the type's GPUs, not asked */
	MEASURE_ASKED,		/* measures it (asked, or said so in Register) */
	MEASURE_FAILED,		/* failed at it; asked again after it registers again */
};

struct measure_node {
	uint32_t agent;
	enum measure_state st;
	bool cancels;			/* its agent takes ProfileCancel */
	bool cancelled;			/* ... and was told to stop (ASKED) */
	bool unfit_seen;		/* drained or unhealthy while ASKED */
	char type[SCHED_TYPE_NAME];	/* the type as this node spells it */
};

/* A GPU type some registered node has and the profile lacks, or one a node
 * still measures after the type was measured elsewhere. */
struct measure_type {
	char name[SCHED_TYPE_NAME];
	struct measure_node *nodes;
	uint32_t n, cap;
	bool blocked;		/* rows saved but not usable until hared restarts */
};

struct measure {
	struct hared *d;
	char models[MEASURE_MAX_MODELS][SCHED_NAME_LEN];
	uint32_t nmodels;
	struct measure_type types[MEASURE_MAX_TYPES];
	uint32_t ntypes;
};

static const char *measure_node(const struct measure *m, uint32_t agent_id)
{
	const struct drv_node *n = driver_node_at(m->d->drv, agent_id - 1);

	return n ? n->name : "?";
}

/* Every model of the profile, or those of measure_models. */
static int measure_models_set(struct measure *m, const struct profile *p, const char *list,
			      char *errbuf, size_t errlen)
{
	char buf[sizeof(m->d->cfg.measure_models)], *save = NULL;

	if (!list[0]) {
		for (uint32_t i = 0; i < profile_model_count(p) && i < MEASURE_MAX_MODELS; i++)
			snprintf(m->models[m->nmodels++], SCHED_NAME_LEN, "%s",
				 profile_model_name(p, i));
		if (profile_model_count(p) > MEASURE_MAX_MODELS)
			log_warn("measure_models: the profile has %u models; agents measure the "
				 "first %d (name them in measure_models)", profile_model_count(p),
				 MEASURE_MAX_MODELS);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		int k = profile_model_find(p, tok);
		bool dup = false;

		if (k < 0) {
			snprintf(errbuf, errlen, "measure_models: unknown model '%s'", tok);
			return ERR_BAD_CONFIG;
		}
		for (uint32_t i = 0; i < m->nmodels; i++)
			dup |= strcmp(m->models[i], profile_model_name(p, (uint32_t)k)) == 0;
		if (dup)
			continue;
		if (m->nmodels == MEASURE_MAX_MODELS) {
			snprintf(errbuf, errlen, "measure_models: more than %d models",
				 MEASURE_MAX_MODELS);
			return ERR_BAD_CONFIG;
		}
		snprintf(m->models[m->nmodels++], SCHED_NAME_LEN, "%s",
			 profile_model_name(p, (uint32_t)k));
	}
	if (m->nmodels == 0) {
		snprintf(errbuf, errlen, "measure_models: no model named");
		return ERR_BAD_CONFIG;
	}
	return 0;
}

int measure_new(struct hared *d, struct measure **out, char *errbuf, size_t errlen)
{
	struct measure *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->d = d;
	rc = measure_models_set(m, d->prof, d->cfg.measure_models, errbuf, errlen);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void measure_free(struct measure *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->ntypes; i++)
		free(m->types[i].nodes);
	free(m);
}

/* Type names are matched as the profile matches them: in any case. */
static struct measure_type *measure_type_find(struct measure *m, const char *name)
{
	for (uint32_t i = 0; i < m->ntypes; i++)
		if (strcasecmp(m->types[i].name, name) == 0)
			return &m->types[i];
	return NULL;
}

static struct measure_type *measure_type_add(struct measure *m, const char *name)
{
	struct measure_type *t = measure_type_find(m, name);

	if (t || m->ntypes == MEASURE_MAX_TYPES)
		return t;
	t = &m->types[m->ntypes++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

static int measure_node_index(const struct measure_type *t, uint32_t agent_id)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->nodes[i].agent == agent_id)
			return (int)i;
	return -1;
}

static bool measure_busy(const struct measure_type *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->nodes[i].st == MEASURE_ASKED)
			return true;
	return false;
}

static bool measure_known(const struct measure *m, const struct measure_type *t)
{
	return profile_gpu_type_find(m->d->prof, t->name) >= 0;
}

/* Drop t when no node has it any more, or once its type is in the profile
 * and no node measures it any more; a blocked type stays (until a restart,
 * nobody is to measure it again). */
static void measure_prune(struct measure *m, struct measure_type *t)
{
	if (t->blocked || (t->n > 0 && !(measure_known(m, t) && !measure_busy(t))))
		return;
	free(t->nodes);
	*t = m->types[--m->ntypes];
	memset(&m->types[m->ntypes], 0, sizeof(m->types[0]));
}

static struct measure_node *measure_node_add(struct measure_type *t, uint32_t agent_id)
{
	int i = measure_node_index(t, agent_id);

	if (i >= 0)
		return &t->nodes[i];
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 4;
		struct measure_node *n = realloc(t->nodes, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->nodes = n;
		t->cap = cap;
	}
	t->nodes[t->n] = (struct measure_node){ .agent = agent_id, .st = MEASURE_IDLE };
	return &t->nodes[t->n++];
}

static void measure_node_remove(struct measure_type *t, uint32_t agent_id)
{
	int i = measure_node_index(t, agent_id);

	if (i >= 0)
		t->nodes[i] = t->nodes[--t->n];
}

/* A node measures t now (its GPUs of the type are kept out of plans), or
 * no longer. */
static void measure_set(struct measure *m, struct measure_type *t, struct measure_node *n,
			enum measure_state st)
{
	if ((st == MEASURE_ASKED) != (n->st == MEASURE_ASKED))
		driver_node_measuring(m->d->drv, n->agent, t->name, st == MEASURE_ASKED);
	n->st = st;
	n->cancelled = n->unfit_seen = false;
}

static void measure_ask(struct measure *m, struct measure_type *t, struct measure_node *n)
{
	Hare__FromDaemon msg = HARE__FROM_DAEMON__INIT;
	Hare__ProfileRequest req = HARE__PROFILE_REQUEST__INIT;
	char *models[MEASURE_MAX_MODELS];
	int rc;

	for (uint32_t i = 0; i < m->nmodels; i++)
		models[i] = m->models[i];
	req.gpu_type = n->type;	/* the agent checks its own spelling */
	req.models = models;
	req.n_models = m->nmodels;
	msg.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_REQUEST;
	msg.profile_request = &req;
	rc = conn_agent_send(m->d, n->agent, &msg);
	if (rc < 0) {
		log_warn("node=%s cannot be asked to measure GPU type %s: %s",
			 measure_node(m, n->agent), t->name, err_str(rc));
		/* no session: asked again when it registers again; any other
		 * failure: asked again at the next node event */
		if (rc == -ENOTCONN)
			n->st = MEASURE_FAILED;
		return;
	}
	measure_set(m, t, n, MEASURE_ASKED);
	log_info("node=%s measures GPU type %s (hare-worker --profile, %u models); its GPUs stay "
		 "unused until then", measure_node(m, n->agent), t->name, m->nmodels);
}

/* The node measures a type that needs no measuring (any more): it is told
 * to stop, and answers with a cancelled ProfileResult once its worker
 * exited (a tracked node stays MEASURE_ASKED until then, its GPUs out of
 * plans). `type` as the node spells it. */
static int measure_cancel(struct measure *m, uint32_t agent_id, const char *type, const char *why)
{
	Hare__FromDaemon msg = HARE__FROM_DAEMON__INIT;
	Hare__ProfileCancel c = HARE__PROFILE_CANCEL__INIT;
	int rc;

	c.gpu_type = (char *)type;
	msg.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_CANCEL;
	msg.profile_cancel = &c;
	rc = conn_agent_send(m->d, agent_id, &msg);
	if (rc < 0)
		log_warn("node=%s cannot be told to stop measuring GPU type %.64s: %s",
			 measure_node(m, agent_id), type, err_str(rc));
	else
		log_info("node=%s stops measuring GPU type %.64s: %s", measure_node(m, agent_id),
			 type, why);
	return rc;
}

/* The same for a tracked node that measures (MEASURE_ASKED): once; one
 * whose ProfileCancel could not be sent is told again at the next look. */
static void measure_cancel_node(struct measure *m, struct measure_node *n, const char *why)
{
	if (n->st == MEASURE_ASKED && n->cancels && !n->cancelled &&
	    measure_cancel(m, n->agent, n->type, why) == 0)
		n->cancelled = true;
}

/* Whether the node may be asked: not drained, and its health check (if
 * any) passes (numbers of a node that is not fit to run jobs would be kept
 * for good). */
static bool measure_node_fit(const struct measure *m, uint32_t agent_id)
{
	const struct drv_node *n = driver_node_at(m->d->drv, agent_id - 1);

	return n && !n->drained && !n->unhealthy;
}

/* Ask the first node with the type that has not failed at it and is fit,
 * unless one measures it already, the profile has it, or its rows wait for
 * a restart. */
static void measure_kick(struct measure *m, struct measure_type *t)
{
	for (uint32_t i = 0; i < t->n && !t->blocked && !measure_known(m, t) && !measure_busy(t); i++)
		if (t->nodes[i].st == MEASURE_IDLE && measure_node_fit(m, t->nodes[i].agent))
			measure_ask(m, t, &t->nodes[i]);
}

void measure_on_node_fit(struct measure *m)
{
	for (uint32_t i = 0; m && i < m->ntypes; i++)
		measure_kick(m, &m->types[i]);
}

void measure_on_node_unfit(struct measure *m)
{
	for (uint32_t i = 0; m && i < m->ntypes; i++) {
		struct measure_type *t = &m->types[i];

		for (uint32_t k = 0; k < t->n; k++) {
			struct measure_node *n = &t->nodes[k];
			const struct drv_node *dn = driver_node_at(m->d->drv, n->agent - 1);

			if (n->st != MEASURE_ASKED || measure_node_fit(m, n->agent))
				continue;
			/* its rows will not be kept (measure_on_result), even if
			 * it is fit again when they come: no use waiting up to
			 * profile_timeout_s for them */
			n->unfit_seen = true;
			measure_cancel_node(m, n, dn && dn->drained ? "the node is drained"
					    : "its health check fails");
		}
	}
}

/* Types listed that the profile lacks (each may become one more). */
static uint32_t measure_unknown_count(const struct measure *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->ntypes; i++)
		n += !measure_known(m, &m->types[i]);
	return n;
}

/* The Register's measuring entry for type (its spelling), or NULL. */
static const char *measure_listed(const Hare__Register *reg, const char *type)
{
	for (size_t i = 0; i < reg->n_measuring; i++)
		if (reg->measuring[i] && strcasecmp(reg->measuring[i], type) == 0)
			return reg->measuring[i];
	return NULL;
}

/* One of the node's GPU types: the profile lacks it, or the node still
 * measures it. */
static void measure_type_of_node(struct measure *m, uint32_t agent_id, const Hare__Register *reg,
				 const char *type, bool was_asked)
{
	bool known = profile_gpu_type_find(m->d->prof, type) >= 0;
	const char *busy = measure_listed(reg, type);
	bool cancels = reg->has_profile_cancel && reg->profile_cancel;
	struct measure_type *t;
	struct measure_node *n;

	if (known && !busy)
		return;
	if (!profile_type_name_ok(type)) {
		log_warn("node=%s GPU type '%.64s' cannot be measured: a profile type is 1 to %d "
			 "characters of A-Z a-z 0-9 . _ + -; its GPUs stay unused",
			 measure_node(m, agent_id), type, SCHED_TYPE_NAME - 1);
		if (busy && cancels)
			measure_cancel(m, agent_id, busy, "hared cannot take its rows");
		return;
	}
	if (!known && !measure_type_find(m, type) &&
	    profile_gpu_type_count(m->d->prof) + measure_unknown_count(m) >= SCHED_MAX_TYPES) {
		log_warn("node=%s GPU type %s cannot be measured: the cluster has %d GPU types "
			 "already", measure_node(m, agent_id), type, SCHED_MAX_TYPES);
		if (busy && cancels)
			measure_cancel(m, agent_id, busy, "hared cannot take its rows");
		return;
	}
	t = measure_type_add(m, type);
	n = t ? measure_node_add(t, agent_id) : NULL;
	if (!n)
		return;
	snprintf(n->type, sizeof(n->type), "%s", busy ? busy : type);
	n->cancels = cancels;
	if (busy) {
		/* it measures the type, or its result follows: wait for that
		 * (told to stop first when the profile has the type) */
		measure_set(m, t, n, MEASURE_ASKED);
		if (known)
			measure_cancel_node(m, n, "the profile has it already");
		else if (t->blocked)
			measure_cancel_node(m, n, "rows for it wait for a restart of hared");
		else
			log_info("node=%s measures GPU type %s (since before it registered)",
				 measure_node(m, agent_id), t->name);
		return;
	}
	if (was_asked && !measure_busy(t) && !t->blocked && !known && measure_node_fit(m, agent_id))
		measure_ask(m, t, n);	/* the request was lost with its session */
	measure_kick(m, t);
}

void measure_on_register(struct measure *m, uint32_t agent_id, const Hare__Register *reg)
{
	const struct profile *p = m->d->prof;
	char asked[MEASURE_MAX_TYPES][SCHED_TYPE_NAME];
	uint32_t nasked = 0;
	bool unknown = false;

	/* what it had before no longer counts: it may have lost GPUs, and its
	 * GPUs' measuring marks went with the old list */
	for (uint32_t i = m->ntypes; i-- > 0;) {
		int k = measure_node_index(&m->types[i], agent_id);

		if (k >= 0 && m->types[i].nodes[k].st == MEASURE_ASKED) {
			snprintf(asked[nasked++], SCHED_TYPE_NAME, "%s", m->types[i].name);
			measure_set(m, &m->types[i], &m->types[i].nodes[k], MEASURE_IDLE);
		}
		measure_node_remove(&m->types[i], agent_id);
		measure_prune(m, &m->types[i]);
	}
	for (size_t i = 0; i < reg->n_gpus; i++)
		unknown |= profile_gpu_type_find(p, reg->gpus[i]->type) < 0;
	if (!m->d->cfg.measure_gpus || !(reg->has_measures && reg->measures)) {
		if (unknown)
			log_warn("node=%s has GPUs of a type the profile lacks; %s, they stay unused",
				 measure_node(m, agent_id), m->d->cfg.measure_gpus ?
				 "its agent does not measure GPU types (an older agent)" :
				 "with measure_gpus = no");
		/* measuring since an earlier hared session: nobody takes its rows */
		for (size_t i = 0; i < reg->n_measuring && reg->has_profile_cancel &&
		     reg->profile_cancel; i++)
			if (reg->measuring[i])
				measure_cancel(m, agent_id, reg->measuring[i], "measure_gpus = no");
		return;
	}
	for (size_t i = 0; i < reg->n_gpus; i++) {
		bool seen = false, was = false;

		for (size_t k = 0; k < i; k++)
			seen |= strcasecmp(reg->gpus[k]->type, reg->gpus[i]->type) == 0;
		for (uint32_t k = 0; k < nasked; k++)
			was |= strcasecmp(asked[k], reg->gpus[i]->type) == 0;
		if (!seen)
			measure_type_of_node(m, agent_id, reg, reg->gpus[i]->type, was);
	}
	/* types another node's loss left unasked */
	for (uint32_t i = 0; i < m->ntypes; i++)
		measure_kick(m, &m->types[i]);
}

void measure_on_detach(struct measure *m, uint32_t agent_id)
{
	for (uint32_t i = m->ntypes; i-- > 0;) {
		struct measure_type *t = &m->types[i];
		int k = measure_node_index(t, agent_id);

		/* its GPUs are down; `harectl nodes` should not show them measured */
		if (k >= 0)
			measure_set(m, t, &t->nodes[k], MEASURE_IDLE);
		measure_node_remove(t, agent_id);
		measure_kick(m, t);
		measure_prune(m, t);
	}
}

/* ------------------------------------------------------- the saved rows -- */

/* Source tags are written as they come when made of [A-Za-z0-9/._+-]. */
static const char *measure_source(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return "measured";
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("/._+-", s[i])))
			return "measured";
	return s;
}

/* What the CSV rows are made of: a profile model, a placement, finite
 * times (the profile's own checks follow when the file is loaded). */
static int measure_rows_check(const struct measure *m, const Hare__ProfileResult *r, char *why,
			      size_t whylen)
{
	const struct profile *p = m->d->prof;

	if (r->n_rows == 0 || r->n_rows > MEASURE_MAX_ROWS) {
		snprintf(why, whylen, "%zu rows (expected 1 to %d)", r->n_rows, MEASURE_MAX_ROWS);
		return ERR_BAD_PROFILE;
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *row = r->rows[i];
		int k = profile_model_find(p, row->model);
		bool spread = strcasecmp(row->placement, "spread") == 0;

		if (k < 0 || strcasecmp(profile_model_name(p, (uint32_t)k), row->model) != 0) {
			snprintf(why, whylen, "row %zu: unknown model '%.40s'", i + 1, row->model);
			return ERR_BAD_PROFILE;
		}
		if (!spread && strcasecmp(row->placement, "consolidated") != 0) {
			snprintf(why, whylen, "row %zu: placement '%.20s' (consolidated or spread)",
				 i + 1, row->placement);
			return ERR_BAD_PROFILE;
		}
		if (!(row->compute_s > 0 && row->compute_s <= MEASURE_MAX_S) ||
		    !(row->sync_s >= 0 && row->sync_s <= MEASURE_MAX_S)) {
			snprintf(why, whylen, "row %zu: compute_s %g and sync_s %g must be seconds "
				 "between 0 and %g", i + 1, row->compute_s, row->sync_s, MEASURE_MAX_S);
			return ERR_BAD_PROFILE;
		}
	}
	return 0;
}

/* The measured file's text, the new rows appended (header if new). */
static int measure_text(const struct measure *m, const Hare__ProfileResult *r, uint32_t agent_id,
			const char *path, char **out, size_t *outlen, char *why, size_t whylen)
{
	const struct profile *p = m->d->prof;
	char *old = NULL, stamp[32];
	size_t oldlen = 0;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (f) {
		old = malloc(MEASURE_FILE_MAX + 1);
		errno = 0;
		oldlen = old ? fread(old, 1, MEASURE_FILE_MAX + 1, f) : 0;
		rc = !old ? -ENOMEM : ferror(f) ? -(errno ? errno : EIO) :
		     oldlen > MEASURE_FILE_MAX ? -EFBIG : 0;
		fclose(f);
	} else if (errno != ENOENT) {
		rc = -errno;
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s: %s", path, rc == -EFBIG ? "over 16 MiB" : strerror(-rc));
		free(old);
		return rc;
	}
	f = open_memstream(out, outlen);
	if (!f) {
		free(old);
		return -ENOMEM;
	}
	if (oldlen == 0)
		fputs(MEASURE_HEADER, f);
	else
		fwrite(old, 1, oldlen, f);
	if (oldlen && old[oldlen - 1] != '\n')
		fputc('\n', f);
	free(old);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "# GPU type %s measured by hare-worker --profile on node %s, %s\n", r->gpu_type,
		measure_node(m, agent_id), stamp);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Hare__ProfileRow *row = r->rows[i];
		int k = profile_model_find(p, row->model);

		fprintf(f, "%s,%s,%u,%s,%.9g,%.9g,%s\n", profile_model_name(p, (uint32_t)k),
			r->gpu_type, row->workers,
			strcasecmp(row->placement, "spread") == 0 ? "spread" : "consolidated",
			row->compute_s, row->sync_s, measure_source(row->source));
	}
	if (fclose(f) != 0) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int measure_write(const char *path, const char *text, size_t len, char *why, size_t whylen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	int rc = fd < 0 ? -errno : file_write_all(fd, text, len);

	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
		return -EIO;
	}
	return 0;
}

/* Check, save and use the rows of r. 0; ERR_BAD_PROFILE when the rows are
 * at fault; another negative code when hared cannot take them now (its
 * state_dir, the shipped profile changed on disk); why says what. */
static int measure_save(struct measure *m, const Hare__ProfileResult *r, uint32_t agent_id,
			char *why, size_t whylen)
{
	struct hared *d = m->d;
	char path[HARED_PATH_LEN + 32], tmp[HARED_PATH_LEN + 40], err[512];
	struct profile *np = NULL, *old = d->prof;
	char *text = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, MEASURE_FILE);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	rc = measure_rows_check(m, r, why, whylen);
	if (rc == 0)
		rc = measure_text(m, r, agent_id, path, &text, &len, why, whylen);
	if (rc == 0)
		rc = measure_write(tmp, text, len, why, whylen);
	free(text);
	if (rc < 0)
		return rc;
	/* the same checks as at start-up: a complete table for each model */
	rc = profile_load_measured(d->cfg.profiles, tmp, &np, err, sizeof(err));
	if (rc < 0 && strncmp(err, tmp, strlen(tmp)) != 0)
		rc = -ESTALE;	/* the shipped files, not the rows */
	if (rc == 0 && profile_gpu_type_find(np, r->gpu_type) < 0) {
		snprintf(err, sizeof(err), "no row for the type");
		rc = ERR_BAD_PROFILE;
	}
	if (rc == 0)
		rc = driver_profile_check(d->drv, np, err, sizeof(err));
	if (rc == 0 && rename(tmp, path) < 0) {
		snprintf(err, sizeof(err), "cannot rename %s: %s", tmp, strerror(errno));
		rc = -EIO;
	}
	if (rc < 0) {
		const char *e = err;

		/* "FILE.new:LINE: reason": the file is gone, the line is no help */
		if (strncmp(err, tmp, strlen(tmp)) == 0 && strstr(err + strlen(tmp), ": "))
			e = strstr(err + strlen(tmp), ": ") + 2;
		snprintf(why, whylen, "%s", e);
		unlink(tmp);
		profile_free(np);
		return rc;
	}
	if (file_sync_dir(d->cfg.state_dir) < 0)
		log_warn("cannot sync %s; the measured rows may be lost in a power cut",
			 d->cfg.state_dir);
	rc = driver_profile_set(d->drv, np, err, sizeof(err));
	if (rc < 0) {
		int n = snprintf(why, whylen, "saved in %s, but not used until hared restarts: ", path);

		if (n >= 0 && (size_t)n < whylen)
			snprintf(why + n, whylen - (size_t)n, "%s", err);
		profile_free(np);
		return -ESTALE;
	}
	d->prof = np;
	profile_free(old);
	return 0;
}

/* A ProfileResult for a type node is not measuring: the answer to a cancel
 * of an untracked type, one sent before a ProfileCancel reached it, or a
 * stray; it is only logged. */
static void measure_result_stray(struct measure *m, const char *node,
				 const Hare__ProfileResult *r, bool cancelled)
{
	if (cancelled)
		log_info("node=%s stopped measuring GPU type %.64s (cancelled)", node,
			 r->gpu_type);
	else if (profile_gpu_type_find(m->d->prof, r->gpu_type) >= 0)
		log_info("node=%s measured GPU type %.64s; the profile has it already "
			 "(ignored)", node, r->gpu_type);
	else
		log_warn("node=%s sent measurements of GPU type '%.64s', which it did not "
			 "register as unmeasured (ignored)", node, r->gpu_type);
}

/* Node mn could not measure type t: it is not asked again, another node is. */
static void measure_result_failed(struct measure *m, struct measure_type *t,
				  struct measure_node *mn, const char *node,
				  const Hare__ProfileResult *r)
{
	log_warn("node=%s could not measure GPU type %s: %.300s", node, t->name,
		 r->message ? r->message : "no reason given");
	mn->st = MEASURE_FAILED;
	measure_kick(m, t);
	if (!measure_busy(t))
		log_warn("GPU type %s: no other node can measure it now; its GPUs stay unused "
			 "until a node measures it after registering again, or rows for it "
			 "are added to the profile", t->name);
}

/* Node mn (agent_id) measured type t, fit all along: its rows are saved and
 * used, and the other nodes measuring t are told to stop; or the rows are
 * refused (another node is asked), or hared cannot take them until it
 * restarts (no node is asked again). */
static void measure_result_keep(struct measure *m, struct measure_type *t,
				struct measure_node *mn, uint32_t agent_id, const char *node,
				const Hare__ProfileResult *r)
{
	char why[1024];
	int rc;

	rc = measure_save(m, r, agent_id, why, sizeof(why));
	if (rc == ERR_BAD_PROFILE) {
		log_error("node=%s measurements of GPU type %s refused: %s", node, t->name, why);
		mn->st = MEASURE_FAILED;
		measure_kick(m, t);
		return;
	}
	if (rc < 0) {
		/* not the node's fault: asking others would end the same way */
		log_error("node=%s measured GPU type %s, but %s; it is not measured again until "
			  "hared restarts", node, t->name, why);
		t->blocked = true;
		for (uint32_t k = 0; k < t->n; k++)
			measure_cancel_node(m, &t->nodes[k],
					    "rows for it wait for a restart of hared");
		return;
	}
	log_info("node=%s measured GPU type %s: %zu rows saved in %s/%s; its GPUs are planned on "
		 "from now", node, t->name, r->n_rows, m->d->cfg.state_dir, MEASURE_FILE);
	/* nodes that still measure it (a session of theirs or of hared
	 * ended meanwhile) are told to stop; their GPUs are planned on once
	 * they answer */
	for (uint32_t k = 0; k < t->n; k++)
		measure_cancel_node(m, &t->nodes[k], "measured on another node");
	measure_prune(m, t);
}

/* A ProfileResult from agent_id (see measure.h): whatever the outcome, the
 * node's GPUs of the type are free again; rows are kept only from a node
 * fit all along, for a type still unmeasured. */
void measure_on_result(struct measure *m, uint32_t agent_id, const Hare__ProfileResult *r)
{
	const char *node = measure_node(m, agent_id);
	struct measure_type *t = measure_type_find(m, r->gpu_type);
	int i = t ? measure_node_index(t, agent_id) : -1;
	bool cancelled = r->has_cancelled && r->cancelled, unfit;

	if (i < 0) {
		measure_result_stray(m, node, r, cancelled);
		return;
	}
	/* unfit at some look while it measured, or now */
	unfit = t->nodes[i].unfit_seen || !measure_node_fit(m, agent_id);
	/* its GPUs of the type are free again, whatever the outcome */
	measure_set(m, t, &t->nodes[i], MEASURE_IDLE);
	if (cancelled) {
		log_info("node=%s stopped measuring GPU type %s (cancelled); its GPUs are free",
			 node, t->name);
		measure_kick(m, t);
		measure_prune(m, t);
		return;
	}
	if (measure_known(m, t) || t->blocked) {
		log_info("node=%s measured GPU type %s; %s (ignored)", node, t->name,
			 t->blocked ? "rows for it wait for a restart" : "the profile has it already");
		measure_prune(m, t);
		return;
	}
	if (!r->ok) {
		measure_result_failed(m, t, &t->nodes[i], node, r);
		return;
	}
	if (unfit) {
		/* drained or unhealthy meanwhile: its numbers are not kept for
		 * good; another node is asked, or this one once fit again */
		log_warn("node=%s measured GPU type %s while drained or failing its health check: "
			 "its rows are not kept; the type is asked of a node fit to run jobs", node,
			 t->name);
		measure_kick(m, t);
		return;
	}
	measure_result_keep(m, t, &t->nodes[i], agent_id, node, r);
}

const char *measure_status(struct measure *m, const char *name, char *buf, size_t len)
{
	struct measure_type *t = m ? measure_type_find(m, name) : NULL;
	bool idle = false;

	if (!t)
		return NULL;
	if (t->blocked) {
		snprintf(buf, len, "it was measured, and hared uses the rows once it restarts");
		return buf;
	}
	for (uint32_t i = 0; i < t->n; i++) {
		if (t->nodes[i].st == MEASURE_ASKED) {
			snprintf(buf, len, "node %s measures it now", measure_node(m, t->nodes[i].agent));
			return buf;
		}
		idle |= t->nodes[i].st == MEASURE_IDLE;
	}
	if (idle)
		snprintf(buf, len, "hared has a node measure it once one of its GPUs is free");
	else
		snprintf(buf, len, "no node can measure it now (each that has it failed; see "
			 "hared's log): add rows for it to the profile, or restart an agent that has "
			 "it to try again");
	return buf;
}
