/* SPDX-License-Identifier: MIT */
/* Measuring GPU types the profile lacks (measure.h): which node measures
 * which type, and keeping what they measured. One node per type at a time;
 * a node whose measuring failed is not asked again in the same session. */
#include "measure.h"

#include "conn.h"
#include "driver.h"
#include "err.h"
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
#define MEASURE_FILE_MAX (16u << 20)
#define MEASURE_HEADER "model,gpu_type,workers,placement,compute_s,sync_s,source\n"

/* A GPU type some registered node has and the profile lacks. */
struct measure_type {
	char name[SCHED_TYPE_NAME];
	uint32_t *agents;	/* registered agents with GPUs of this type */
	bool *failed;		/* ... whose measuring of it failed */
	uint32_t n, cap;
	uint32_t asked;		/* agent measuring it now, 0: none */
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
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		int k = profile_model_find(p, tok);

		if (k < 0) {
			snprintf(errbuf, errlen, "measure_models: unknown model '%s'", tok);
			return ERR_BAD_CONFIG;
		}
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
	for (uint32_t i = 0; i < m->ntypes; i++) {
		free(m->types[i].agents);
		free(m->types[i].failed);
	}
	free(m);
}

static struct measure_type *measure_type_find(struct measure *m, const char *name)
{
	for (uint32_t i = 0; i < m->ntypes; i++)
		if (strcmp(m->types[i].name, name) == 0)
			return &m->types[i];
	return NULL;
}

/* The type leaves the list (measured). */
static void measure_type_drop(struct measure *m, struct measure_type *t)
{
	free(t->agents);
	free(t->failed);
	*t = m->types[--m->ntypes];
	memset(&m->types[m->ntypes], 0, sizeof(m->types[0]));
}

static int measure_agent_index(const struct measure_type *t, uint32_t agent_id)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->agents[i] == agent_id)
			return (int)i;
	return -1;
}

static int measure_agent_add(struct measure_type *t, uint32_t agent_id)
{
	if (measure_agent_index(t, agent_id) >= 0)
		return 0;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 4;
		uint32_t *a = realloc(t->agents, cap * sizeof(*a));
		bool *f;

		if (!a)
			return -ENOMEM;
		t->agents = a;
		f = realloc(t->failed, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		t->failed = f;
		t->cap = cap;
	}
	t->agents[t->n] = agent_id;
	t->failed[t->n++] = false;
	return 0;
}

static void measure_agent_remove(struct measure_type *t, uint32_t agent_id)
{
	int i = measure_agent_index(t, agent_id);

	if (i < 0)
		return;
	t->n--;
	t->agents[i] = t->agents[t->n];
	t->failed[i] = t->failed[t->n];
}

static void measure_ask(struct measure *m, struct measure_type *t, uint32_t agent_id)
{
	Hare__FromDaemon msg = HARE__FROM_DAEMON__INIT;
	Hare__ProfileRequest req = HARE__PROFILE_REQUEST__INIT;
	char *models[MEASURE_MAX_MODELS];

	for (uint32_t i = 0; i < m->nmodels; i++)
		models[i] = m->models[i];
	req.gpu_type = t->name;
	req.models = models;
	req.n_models = m->nmodels;
	msg.msg_case = HARE__FROM_DAEMON__MSG_PROFILE_REQUEST;
	msg.profile_request = &req;
	t->asked = agent_id;
	if (conn_agent_send(m->d, agent_id, &msg) < 0) {
		log_warn("node=%s cannot be asked to measure GPU type %s", measure_node(m, agent_id),
			 t->name);
		t->asked = 0;
		return;
	}
	log_info("node=%s measures GPU type %s (hare-worker --profile, %u models); its GPUs stay "
		 "unused until then", measure_node(m, agent_id), t->name, m->nmodels);
}

/* Ask the first node with the type that has not failed at it. */
static void measure_kick(struct measure *m, struct measure_type *t)
{
	if (t->asked)
		return;
	for (uint32_t i = 0; i < t->n; i++) {
		if (!t->failed[i]) {
			measure_ask(m, t, t->agents[i]);
			if (t->asked)
				return;
			t->failed[i] = true;	/* its session is gone; it registers again */
		}
	}
}

void measure_on_register(struct measure *m, uint32_t agent_id, const Hare__Register *reg)
{
	const struct profile *p = m->d->prof;

	if (!m->d->cfg.measure_gpus) {
		for (size_t i = 0; i < reg->n_gpus; i++)
			if (profile_gpu_type_find(p, reg->gpus[i]->type) < 0) {
				log_warn("node=%s has GPUs of type '%.64s', which the profile lacks; "
					 "with measure_gpus = no they stay unused",
					 measure_node(m, agent_id), reg->gpus[i]->type);
				break;
			}
		return;
	}
	/* what it had before no longer counts (it may have lost GPUs); a type
	 * it was measuring is asked of it again below (an agent that still
	 * measures it ignores the repeat), or of another node */
	for (uint32_t i = 0; i < m->ntypes; i++)
		measure_agent_remove(&m->types[i], agent_id);
	for (size_t i = 0; i < reg->n_gpus; i++) {
		const char *type = reg->gpus[i]->type;
		struct measure_type *t;
		bool seen = false;

		for (size_t k = 0; k < i; k++)
			seen |= strcmp(reg->gpus[k]->type, type) == 0;
		if (seen || profile_gpu_type_find(p, type) >= 0)
			continue;
		if (!profile_type_name_ok(type)) {
			log_warn("node=%s GPU type '%.64s' cannot be measured: a profile type is 1 to "
				 "%d characters of A-Z a-z 0-9 . _ + -; its GPUs stay unused",
				 measure_node(m, agent_id), type, SCHED_TYPE_NAME - 1);
			continue;
		}
		t = measure_type_find(m, type);
		if (!t && m->ntypes + profile_gpu_type_count(p) < SCHED_MAX_TYPES) {
			t = &m->types[m->ntypes++];
			snprintf(t->name, sizeof(t->name), "%s", type);
		}
		if (!t) {
			log_warn("node=%s GPU type %s cannot be measured: the cluster has %d GPU "
				 "types already", measure_node(m, agent_id), type, SCHED_MAX_TYPES);
			continue;
		}
		if (measure_agent_add(t, agent_id) < 0)
			continue;
		if (t->asked == agent_id)
			measure_ask(m, t, agent_id);
		else
			measure_kick(m, t);
	}
	for (uint32_t i = 0; i < m->ntypes; i++) {
		struct measure_type *t = &m->types[i];

		if (t->asked == agent_id && measure_agent_index(t, agent_id) < 0) {
			t->asked = 0;	/* it has no such GPU any more */
			measure_kick(m, t);
		}
	}
}

void measure_on_detach(struct measure *m, uint32_t agent_id)
{
	for (uint32_t i = 0; i < m->ntypes; i++) {
		struct measure_type *t = &m->types[i];

		measure_agent_remove(t, agent_id);
		if (t->asked == agent_id) {
			t->asked = 0;
			measure_kick(m, t);
		}
	}
}

const char *measure_asked_of(const struct measure *m, uint32_t agent_id)
{
	for (uint32_t i = 0; i < m->ntypes; i++)
		if (m->types[i].asked == agent_id)
			return m->types[i].name;
	return "";
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
		if (!isfinite(row->compute_s) || !isfinite(row->sync_s)) {
			snprintf(why, whylen, "row %zu: times must be finite", i + 1);
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
		oldlen = old ? fread(old, 1, MEASURE_FILE_MAX + 1, f) : 0;
		rc = !old ? -ENOMEM : ferror(f) ? -EIO : oldlen > MEASURE_FILE_MAX ? -EFBIG : 0;
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
	size_t off = 0;

	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(why, whylen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -EIO;
}

static void measure_dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Check, save and use the rows of r. 0 or a negative code with why. */
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
	if (rc == 0 && profile_gpu_type_find(np, r->gpu_type) < 0) {
		snprintf(err, sizeof(err), "no row for the type");
		rc = ERR_BAD_PROFILE;
	}
	if (rc == 0 && profile_gpu_type_count(np) > SCHED_MAX_TYPES) {
		snprintf(err, sizeof(err), "more than %d GPU types", SCHED_MAX_TYPES);
		rc = -E2BIG;
	}
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
	measure_dir_sync(d->cfg.state_dir);
	rc = driver_profile_set(d->drv, np, err, sizeof(err));
	if (rc < 0) {
		int n = snprintf(why, whylen, "saved in %s, but not used until hared restarts: ", path);

		if (n >= 0 && (size_t)n < whylen)
			snprintf(why + n, whylen - (size_t)n, "%s", err);
		profile_free(np);
		return rc;
	}
	d->prof = np;
	profile_free(old);
	return 0;
}

void measure_on_result(struct measure *m, uint32_t agent_id, const Hare__ProfileResult *r)
{
	const char *node = measure_node(m, agent_id);
	struct measure_type *t = measure_type_find(m, r->gpu_type);
	int i = t ? measure_agent_index(t, agent_id) : -1;
	char why[1024];

	if (profile_gpu_type_find(m->d->prof, r->gpu_type) >= 0) {
		log_info("node=%s measured GPU type %.64s; the profile has it already (ignored)",
			 node, r->gpu_type);
		return;
	}
	if (i < 0) {
		log_warn("node=%s sent measurements of GPU type '%.64s', which it did not register "
			 "as unmeasured (ignored)", node, r->gpu_type);
		return;
	}
	if (t->asked == agent_id)
		t->asked = 0;
	if (!r->ok) {
		log_warn("node=%s could not measure GPU type %s: %.300s", node, t->name,
			 r->message ? r->message : "no reason given");
		t->failed[i] = true;
		measure_kick(m, t);
		if (!t->asked)
			log_warn("GPU type %s: no other node can measure it now; its GPUs stay unused "
				 "until a node measures it after registering again, or rows for it "
				 "are added to the profile", t->name);
		return;
	}
	if (measure_save(m, r, agent_id, why, sizeof(why)) < 0) {
		log_error("node=%s measurements of GPU type %s refused: %s", node, t->name, why);
		t->failed[i] = true;
		measure_kick(m, t);
		return;
	}
	log_info("node=%s measured GPU type %s: %zu rows saved in %s/%s; its GPUs are planned on "
		 "from now", node, t->name, r->n_rows, m->d->cfg.state_dir, MEASURE_FILE);
	measure_type_drop(m, t);
}
