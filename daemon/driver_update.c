/* SPDX-License-Identifier: MIT */
/* harectl update, hold and release: a job's weight, GPU range and name
 * change while it waits or runs; a held job is kept out of plans until it
 * is released. */
#include "driver_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* One change more in msg: "job 42: weight 1 -> 5, held". */
static void upd_say(char *msg, size_t msglen, bool *first, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void upd_say(char *msg, size_t msglen, bool *first, const char *fmt, ...)
{
	size_t used = strlen(msg);
	va_list ap;

	if (used + 2 >= msglen)
		return;
	memcpy(msg + used, *first ? ": " : ", ", 3);
	used += 2;
	*first = false;
	va_start(ap, fmt);
	vsnprintf(msg + used, msglen - used, fmt, ap);
	va_end(ap);
}

/* The GPU range after u, or -EINVAL with the reason. */
static int upd_range(const struct drv_job *j, const struct driver_update *u, uint32_t *lo,
		     uint32_t *hi, char *msg, size_t msglen)
{
	*lo = u->has_min_gpus ? u->min_gpus : j->rec.min_gpus;
	*hi = u->has_max_gpus ? u->max_gpus : j->rec.max_gpus;
	if (*hi < 1 || *hi > j->rec.tasks) {
		snprintf(msg, msglen, "job %" PRIu64 ": max_gpus must be between 1 and its gpus (%u), "
			 "got %u", j->rec.id, j->rec.tasks, *hi);
		return -EINVAL;
	}
	if (*lo > *hi && !u->has_min_gpus) {	/* the option given is the one to blame */
		snprintf(msg, msglen, "job %" PRIu64 ": max_gpus %u is below its min_gpus (%u); give "
			 "min_gpus too (harectl update --min-gpus)", j->rec.id, *hi, *lo);
		return -EINVAL;
	}
	if (*lo < 1 || *lo > *hi) {
		snprintf(msg, msglen, "job %" PRIu64 ": min_gpus must be between 1 and max_gpus (%u), "
			 "got %u", j->rec.id, *hi, *lo);
		return -EINVAL;
	}
	return 0;
}

/* Stop whatever runs or is about to run for j, and queue it again. A job
 * only waiting to start (its GPUs still being vacated) just lets them go:
 * its last stopped lease may still credit the rounds it finished. One whose
 * workers hared waits for after a restart is left to the end of that wait,
 * which adopts their lease and then stops it (held) or checks it against
 * the new GPU range, so the rounds they did are counted. */
static void upd_requeue(struct driver *d, struct drv_job *j, const char *kind, const char *why)
{
	driver_pend_drop(d, j);
	if (j->adopt_wait) {
		driver_replan_request(d);
	} else if (j->lease.id) {
		driver_job_requeue(d, j, kind, why);
	} else {
		driver_replan_request(d);
	}
}

/* The hold after u in *want: 0, or -EPERM. */
static int upd_hold(const struct drv_job *j, const struct driver_update *u, bool admin,
		    enum store_held *want, char *msg, size_t msglen)
{
	*want = j->rec.held;
	if (u->hold < 0)
		return 0;
	*want = u->hold == 0 ? STORE_HELD_NONE : admin ? STORE_HELD_ADMIN : STORE_HELD_OWNER;
	if (u->hold == 0 && j->rec.held == STORE_HELD_ADMIN && !admin) {
		snprintf(msg, msglen, "job %" PRIu64 " was held by root; only root may release it",
			 j->rec.id);
		return -EPERM;
	}
	/* root's hold is not weakened by the owner's */
	if (u->hold == 1 && j->rec.held == STORE_HELD_ADMIN)
		*want = STORE_HELD_ADMIN;
	return 0;
}

int driver_job_update(struct driver *d, uint64_t id, const char *user, bool admin,
		      const struct driver_update *u, char *msg, size_t msglen)
{
	bool requeue = false, first = true;
	enum store_held held;
	uint32_t lo, hi, width;
	char why[128];
	int rc;
	struct drv_job *j = driver_job_mine(d, id, user, admin, "change", &rc, msg, msglen);

	if (!j)
		return rc;
	rc = upd_range(j, u, &lo, &hi, msg, msglen);
	if (rc == 0)
		rc = upd_hold(j, u, admin, &held, msg, msglen);
	if (rc < 0)
		return rc;
	snprintf(msg, msglen, "job %" PRIu64, id);
	if (u->name && strcmp(u->name, j->rec.name) != 0) {
		upd_say(msg, msglen, &first, "name %s", u->name);
		snprintf(j->rec.name, sizeof(j->rec.name), "%s", u->name);
	}
	if (u->has_weight && u->weight != j->rec.weight) {
		upd_say(msg, msglen, &first, "weight %g -> %g", j->rec.weight, u->weight);
		j->rec.weight = u->weight;
	}
	if (lo != j->rec.min_gpus || hi != j->rec.max_gpus) {
		upd_say(msg, msglen, &first, "GPUs %u-%u -> %u-%u", j->rec.min_gpus, j->rec.max_gpus,
			lo, hi);
		j->rec.min_gpus = lo;
		j->rec.max_gpus = hi;
		width = j->lease.id ? j->lease.nranks : j->npend;
		requeue = width > 0 && (width < lo || width > hi);
	}
	if (held != j->rec.held) {
		j->rec.held = held;
		if (held != STORE_HELD_NONE) {	/* out of the order now, not at the next plan */
			j->order = UINT32_MAX;
			j->est_start = j->est_finish = 0;
		}
		upd_say(msg, msglen, &first, "%s", j->rec.held == STORE_HELD_ADMIN ? "held by root" :
			j->rec.held == STORE_HELD_OWNER ? "held" : "released");
	}
	if (first) {
		upd_say(msg, msglen, &first, "%s", u->hold == 1 ? "already held" :
			u->hold == 0 ? "was not held" : "nothing to change");
		return 0;
	}
	if (d->st) {
		char detail[320];

		snprintf(detail, sizeof(detail), "%s (by %s)", msg, user);
		store_job_settings(d->st, &j->rec);
		store_event(d->st, driver_now(), id, "update", detail);
	}
	log_info("%s (by user=%s)", msg, user);
	if (j->rec.held != STORE_HELD_NONE && (j->lease.id || j->pend || j->adopt_wait)) {
		snprintf(why, sizeof(why), "held by %s", user);
		upd_requeue(d, j, "hold", why);
	} else if (requeue) {
		snprintf(why, sizeof(why), "its GPU range changed to %u-%u", lo, hi);
		upd_requeue(d, j, "requeue", why);
	} else {
		driver_replan_request(d);
	}
	return 0;
}
