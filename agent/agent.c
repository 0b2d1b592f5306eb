/* SPDX-License-Identifier: MIT */
/* The agent object: creation, start (work directory, adoption, first
 * connection), the report batching timer, and an orderly asynchronous close
 * that leaves the workers running. */
#include "agent_impl.h"

#include "auth_hmac.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t agent_now_ms(const struct agent *a)
{
	return uv_now(a->loop);
}

static void agent_timer_init(struct agent *a, uv_timer_t *t)
{
	uv_timer_init(a->loop, t);
	t->data = a;
	a->handles++;
}

int agent_new(uv_loop_t *loop, const struct agent_config *cfg, const uint8_t *key, size_t keylen,
	      struct agent **out)
{
	struct agent *a;
	char err[256];
	uint16_t port;

	if (keylen > AGENT_KEY_MAX)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->cfg = *cfg;
	memcpy(a->key, key, keylen);
	a->keylen = keylen;
	if (agent_addr_parse(cfg->daemon, a->host, sizeof(a->host), &port, err, sizeof(err)) < 0) {
		free(a);
		return -EINVAL;
	}
	snprintf(a->port, sizeof(a->port), "%u", port);
	a->rng = ((uint64_t)getpid() << 32) ^ uv_hrtime() ^ 0x9e3779b97f4a7c15ull;
	if (a->rng == 0)
		a->rng = 1;
	wire_reader_init(&a->reader, cfg->max_frame);
	agent_timer_init(a, &a->retry_timer);
	agent_timer_init(a, &a->heartbeat_timer);
	agent_timer_init(a, &a->flush_timer);
	agent_timer_init(a, &a->prof.timer);
	agent_timer_init(a, &a->health.timer);
	a->start_ms = uv_now(loop);
	a->lock_fd = -1;
	*out = a;
	return 0;
}

void agent_event_cb_set(struct agent *a, agent_event_cb cb, void *user)
{
	a->event_cb = cb;
	a->event_user = user;
}

int agent_start(struct agent *a, char *err, size_t errlen)
{
	int rc = agent_state_dir_make(a, err, errlen);

	/* a folder the configuration names that cannot be made is the
	 * configuration's fault, unless the disk is (full, read-only, failing):
	 * that may pass, so the unit should try again */
	a->start_config_error = rc < 0 && rc != -ENOSPC && rc != -EROFS && rc != -EIO &&
				rc != -EDQUOT && rc != -ENOMEM;
	if (rc == 0)
		rc = agent_state_lock(a, err, errlen);
	if (rc < 0)
		return rc;
	rc = agent_cgroup_init(a, err, errlen);
	if (rc == 0)
		rc = agent_devices_init(a, err, errlen);
	if (rc < 0) {
		/* cgroup = yes or constrain_devices = yes that cannot be had
		 * (Delegate=yes missing, say); but a fork or a
		 * mkdir that fails for want of memory or processes may pass */
		a->start_config_error = rc != -ENOMEM && rc != -EAGAIN && rc != -EINTR &&
					rc != -EBUSY;
		return rc;
	}
	agent_account_dirs(a);
	if (a->cfg.run_as_owner && geteuid() != 0)
		log_info("agent runs as uid %u, not root: every worker runs as it, whoever owns "
			 "the job", (unsigned)geteuid());
	agent_prolog_check(a);
	agent_state_adopt_all(a);
	agent_cgroup_sweep(a, true);
	agent_rdv_sweep(a);
	agent_log_prune(a, time(NULL));
	if (!agent_health_start(a))
		agent_link_connect(a);	/* else once the first check has ended */
	return 0;
}

bool agent_start_config_error(const struct agent *a)
{
	return a->start_config_error;
}

static void on_flush(uv_timer_t *t)
{
	struct agent *a = t->data;

	bool left = agent_tasks_flush(a, false);

	left |= agent_tasks_send_exits(a);
	if (!left || !agent_link_is_ready(a))
		uv_timer_stop(t);
}

void agent_flush_timer_arm(struct agent *a)
{
	uint64_t ms = a->cfg.report_interval_ms ? a->cfg.report_interval_ms : 1;

	if (!a->closing && !uv_is_active((uv_handle_t *)&a->flush_timer))
		uv_timer_start(&a->flush_timer, on_flush, ms, ms);
}

void agent_stats_get(const struct agent *a, struct agent_stats *out)
{
	*out = a->stats;
	out->tasks_live = agent_tasks_live(a);
}

void agent_rbuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct agent *a = h->data;

	(void)suggested;
	*buf = uv_buf_init(a->rbuf, sizeof(a->rbuf));
}

void agent_on_handle_closed(uv_handle_t *h)
{
	struct agent *a = h->data;

	a->handles--;
	agent_maybe_done(a);
}

void agent_maybe_done(struct agent *a)
{
	agent_close_cb cb;
	void *user;

	if (!a->closing || a->done || a->handles > 0 || a->requests > 0 || a->ntasks > 0 ||
	    a->prof.handles > 0 || a->health.run.handles > 0)
		return;
	a->done = true;
	agent_cgroup_close(a);
	cb = a->close_cb;
	user = a->close_user;
	wire_reader_destroy(&a->reader);
	auth_hmac_key_free(a->mac_in);
	auth_hmac_key_free(a->mac_out);
	tls_link_free(a->tls);
	explicit_bzero(a->key, sizeof(a->key));
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a);
	if (cb)
		cb(user);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct agent *a = req->data;

	(void)status;
	a->requests--;
	if (a->tcp_open && !uv_is_closing((uv_handle_t *)&a->tcp))
		uv_close((uv_handle_t *)&a->tcp, agent_on_tcp_closed);
	agent_maybe_done(a);
}

/* A daemon that does not read must not hold up the agent's exit. */
static void on_close_guard(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->tcp_open && !uv_is_closing((uv_handle_t *)&a->tcp))
		uv_close((uv_handle_t *)&a->tcp, agent_on_tcp_closed);
}

/* Let the queued frames (last reports, exits) out, then close. */
static void agent_close_link(struct agent *a)
{
	int rc;

	if (a->state == LINK_RESOLVING)
		uv_cancel((uv_req_t *)&a->gai);
	if (!a->tcp_open) {
		uv_close((uv_handle_t *)&a->retry_timer, agent_on_handle_closed);
		return;
	}
	if (a->state == LINK_CLOSING)
		return;		/* on_tcp_closed closes the retry timer */
	if (a->state == LINK_CONNECTING) {
		a->state = LINK_CLOSING;
		uv_close((uv_handle_t *)&a->tcp, agent_on_tcp_closed);
		return;
	}
	a->state = LINK_CLOSING;
	uv_read_stop((uv_stream_t *)&a->tcp);
	a->shutdown_req.data = a;
	rc = uv_shutdown(&a->shutdown_req, (uv_stream_t *)&a->tcp, on_shutdown);
	if (rc < 0) {
		uv_close((uv_handle_t *)&a->tcp, agent_on_tcp_closed);
		return;
	}
	a->requests++;
	uv_timer_start(&a->retry_timer, on_close_guard, 1000, 0);
}

void agent_close(struct agent *a, agent_close_cb cb, void *user)
{
	if (a->closing)
		return;
	log_info("agent closing node=%s workers_left_running=%u", a->cfg.node, agent_tasks_live(a));
	if (a->state == LINK_READY) {
		agent_rdv_send_pending(a);
		agent_tasks_flush(a, true);
		agent_tasks_send_exits(a);
		agent_profile_send_pending(a);
	}
	a->closing = true;
	a->close_cb = cb;
	a->close_user = user;
	uv_timer_stop(&a->retry_timer);
	uv_close((uv_handle_t *)&a->heartbeat_timer, agent_on_handle_closed);
	uv_close((uv_handle_t *)&a->flush_timer, agent_on_handle_closed);
	agent_close_link(a);
	agent_tasks_close(a);
	agent_profile_close(a);
	agent_health_close(a);
}
