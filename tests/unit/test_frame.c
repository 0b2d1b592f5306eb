/* SPDX-License-Identifier: MIT */
/* Tests of the frame codec (proto/frame.h): round trips of every envelope
 * kind, streams split anywhere, the length cap, and malformed payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "frame.h"

/* ---- one message of every kind, filled with recognisable values ---- */

static uint8_t nonce[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static uint8_t mac[32] = { 0xde, 0xad, 0xbe, 0xef };
static uint8_t rdv[5] = { 0, 'n', 'c', 0, 'l' };

static Hare__GpuInfo gpu0 = { PROTOBUF_C_MESSAGE_INIT(&hare__gpu_info__descriptor), 0, "V100", 1, 16384, 1, 1 };
static Hare__GpuInfo gpu1 = { PROTOBUF_C_MESSAGE_INIT(&hare__gpu_info__descriptor), 1, "T4", 0, 0, 0, 0 };
static Hare__GpuInfo *gpus[] = { &gpu0, &gpu1 };
static Hare__RunningTask run0 = HARE__RUNNING_TASK__INIT;
static Hare__RunningTask *running[] = { &run0 };
static Hare__Hello hello = HARE__HELLO__INIT;
static Hare__Auth auth = HARE__AUTH__INIT;
static Hare__Register reg = HARE__REGISTER__INIT;
static Hare__Heartbeat heartbeat = HARE__HEARTBEAT__INIT;
static Hare__RoundReport report = HARE__ROUND_REPORT__INIT;
static Hare__TaskExit task_exit = HARE__TASK_EXIT__INIT;
static Hare__Rendezvous rendezvous = HARE__RENDEZVOUS__INIT;
static char *types[] = { "V100", "T4" };
static Hare__JobSpec spec = HARE__JOB_SPEC__INIT;
static Hare__Submit submit = HARE__SUBMIT__INIT;
static Hare__QueueRequest queue = HARE__QUEUE_REQUEST__INIT;
static Hare__ShowRequest show = HARE__SHOW_REQUEST__INIT;
static uint64_t cancel_ids[] = { 3, 5, 8 };
static Hare__CancelRequest cancel = HARE__CANCEL_REQUEST__INIT;
static Hare__NodesRequest nodes = HARE__NODES_REQUEST__INIT;
static Hare__ProfileRow prow0 = HARE__PROFILE_ROW__INIT;
static Hare__ProfileRow *prows[] = { &prow0 };
static Hare__ProfileResult presult = HARE__PROFILE_RESULT__INIT;
static char *pmodels[] = { "resnet50", "lm" };
static Hare__ProfileRequest prequest = HARE__PROFILE_REQUEST__INIT;

static Hare__Challenge challenge = HARE__CHALLENGE__INIT;
static Hare__Welcome welcome = HARE__WELCOME__INIT;
static Hare__TaskStart task_start = HARE__TASK_START__INIT;
static Hare__TaskStop task_stop = HARE__TASK_STOP__INIT;
static Hare__SubmitReply submit_reply = HARE__SUBMIT_REPLY__INIT;
static Hare__JobPlacement place0 = { PROTOBUF_C_MESSAGE_INIT(&hare__job_placement__descriptor), "n1", 2, "V100", 3 };
static Hare__JobPlacement *places[] = { &place0 };
static Hare__JobInfo info = HARE__JOB_INFO__INIT;
static Hare__JobInfo *infos[] = { &info };
static Hare__QueueReply queue_reply = HARE__QUEUE_REPLY__INIT;
static Hare__ShowReply show_reply = HARE__SHOW_REPLY__INIT;
static Hare__CancelResult cres0 = { PROTOBUF_C_MESSAGE_INIT(&hare__cancel_result__descriptor), 3, 1, NULL };
static Hare__CancelResult cres1 = { PROTOBUF_C_MESSAGE_INIT(&hare__cancel_result__descriptor), 5, 0, "not your job" };
static Hare__CancelResult *cres[] = { &cres0, &cres1 };
static Hare__CancelReply cancel_reply = HARE__CANCEL_REPLY__INIT;
static Hare__NodeGpu ngpu0 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_gpu__descriptor), 0, "K80", 1, 7, 1, 1, 0, 0, 0, 0, 0, 0 };
static Hare__NodeGpu *ngpus[] = { &ngpu0 };
static Hare__NodeInfo node0 = { PROTOBUF_C_MESSAGE_INIT(&hare__node_info__descriptor), "n1", 1, 1, ngpus, 1, 12.5,
				0, 0, NULL, 1, 2, 0, 0, 0, 0, NULL, 0, 0, 0, 0, NULL, 0, 0, 0, 0 };
static Hare__NodeInfo *nodelist[] = { &node0 };
static Hare__NodesReply nodes_reply = HARE__NODES_REPLY__INIT;
static Hare__Error error = HARE__ERROR__INIT;

static void fill_messages(void)
{
	hello.version = HARE__VERSION__PROTOCOL_VERSION;
	hello.role = HARE__ROLE__ROLE_AGENT;
	hello.node = "node-7";
	auth.mac.data = mac;
	auth.mac.len = sizeof(mac);
	run0.job_id = 11;
	run0.lease_id = 12;
	run0.rank = 1;
	reg.n_gpus = 2;
	reg.gpus = gpus;
	reg.n_running = 1;
	reg.running = running;
	heartbeat.has_uptime_s = 1;
	heartbeat.uptime_s = 99.5;
	report.job_id = 4;
	report.lease_id = 9;
	report.rank = 2;
	report.round_first = 1000;
	report.round_count = 17;
	report.compute_s = 3.25;
	report.sync_s = 0.5;
	task_exit.job_id = 4;
	task_exit.lease_id = 9;
	task_exit.rank = 0;
	task_exit.status = HARE__TASK_STATUS__TASK_STOPPED;
	task_exit.message = "stopped";
	rendezvous.job_id = 4;
	rendezvous.lease_id = 9;
	rendezvous.data.data = rdv;
	rendezvous.data.len = sizeof(rdv);
	spec.model = "resnet50";
	spec.tasks = 8;
	spec.rounds = 5000;
	spec.n_gpu_types = 2;
	spec.gpu_types = types;
	submit.spec = &spec;
	queue.has_all = 1;
	queue.all = 1;
	show.job_id = 77;
	cancel.n_job_ids = 3;
	cancel.job_ids = cancel_ids;
	prow0.model = "lm";
	prow0.workers = 4;
	prow0.placement = "spread";
	prow0.compute_s = 0.0125;
	prow0.sync_s = 0.002;
	prow0.source = "measured/nccl";
	presult.gpu_type = "H100";
	presult.ok = 1;
	presult.n_rows = 1;
	presult.rows = prows;
	prequest.gpu_type = "H100";
	prequest.n_models = 2;
	prequest.models = pmodels;

	challenge.nonce.data = nonce;
	challenge.nonce.len = sizeof(nonce);
	welcome.version = 1;
	welcome.has_agent_id = 1;
	welcome.agent_id = 3;
	task_start.job_id = 4;
	task_start.lease_id = 9;
	task_start.model = "bert";
	task_start.world_size = 4;
	task_start.tasks = 2;
	task_start.job_tasks = 8;
	task_start.round_count = 123456789012ull;
	task_stop.job_id = 4;
	task_stop.lease_id = 9;
	submit_reply.job_id = 42;
	info.job_id = 42;
	info.user = "alice";
	info.name = "exp";
	info.model = "resnet50";
	info.state = HARE__JOB_STATE__RUNNING;
	info.tasks = 3;
	info.rounds_total = 10;
	info.weight = 2;
	info.n_placement = 1;
	info.placement = places;
	queue_reply.n_jobs = 1;
	queue_reply.jobs = infos;
	show_reply.job = &info;
	cancel_reply.n_results = 2;
	cancel_reply.results = cres;
	nodes_reply.n_nodes = 1;
	nodes_reply.nodes = nodelist;
	error.code = ERR_BAD_SPEC;
	error.message = "gpus must be between 1 and 64, got 0";
}

static void to_daemon_set(Hare__ToDaemon *m, int kind)
{
	hare__to_daemon__init(m);
	m->msg_case = kind;
	switch (kind) {
	case HARE__TO_DAEMON__MSG_HELLO: m->hello = &hello; break;
	case HARE__TO_DAEMON__MSG_AUTH: m->auth = &auth; break;
	case HARE__TO_DAEMON__MSG_REGISTER: m->register_ = &reg; break;
	case HARE__TO_DAEMON__MSG_HEARTBEAT: m->heartbeat = &heartbeat; break;
	case HARE__TO_DAEMON__MSG_ROUND_REPORT: m->round_report = &report; break;
	case HARE__TO_DAEMON__MSG_TASK_EXIT: m->task_exit = &task_exit; break;
	case HARE__TO_DAEMON__MSG_RENDEZVOUS: m->rendezvous = &rendezvous; break;
	case HARE__TO_DAEMON__MSG_SUBMIT: m->submit = &submit; break;
	case HARE__TO_DAEMON__MSG_QUEUE: m->queue = &queue; break;
	case HARE__TO_DAEMON__MSG_SHOW: m->show = &show; break;
	case HARE__TO_DAEMON__MSG_CANCEL: m->cancel = &cancel; break;
	case HARE__TO_DAEMON__MSG_NODES: m->nodes = &nodes; break;
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT: m->profile_result = &presult; break;
	default: fail();
	}
}

static void from_daemon_set(Hare__FromDaemon *m, int kind)
{
	hare__from_daemon__init(m);
	m->msg_case = kind;
	switch (kind) {
	case HARE__FROM_DAEMON__MSG_CHALLENGE: m->challenge = &challenge; break;
	case HARE__FROM_DAEMON__MSG_WELCOME: m->welcome = &welcome; break;
	case HARE__FROM_DAEMON__MSG_TASK_START: m->task_start = &task_start; break;
	case HARE__FROM_DAEMON__MSG_TASK_STOP: m->task_stop = &task_stop; break;
	case HARE__FROM_DAEMON__MSG_RENDEZVOUS: m->rendezvous = &rendezvous; break;
	case HARE__FROM_DAEMON__MSG_SUBMIT_REPLY: m->submit_reply = &submit_reply; break;
	case HARE__FROM_DAEMON__MSG_QUEUE_REPLY: m->queue_reply = &queue_reply; break;
	case HARE__FROM_DAEMON__MSG_SHOW_REPLY: m->show_reply = &show_reply; break;
	case HARE__FROM_DAEMON__MSG_CANCEL_REPLY: m->cancel_reply = &cancel_reply; break;
	case HARE__FROM_DAEMON__MSG_NODES_REPLY: m->nodes_reply = &nodes_reply; break;
	case HARE__FROM_DAEMON__MSG_ERROR: m->error = &error; break;
	case HARE__FROM_DAEMON__MSG_PROFILE_REQUEST: m->profile_request = &prequest; break;
	default: fail();
	}
}

static const int to_kinds[] = {
	HARE__TO_DAEMON__MSG_HELLO, HARE__TO_DAEMON__MSG_AUTH, HARE__TO_DAEMON__MSG_REGISTER,
	HARE__TO_DAEMON__MSG_HEARTBEAT, HARE__TO_DAEMON__MSG_ROUND_REPORT, HARE__TO_DAEMON__MSG_TASK_EXIT,
	HARE__TO_DAEMON__MSG_RENDEZVOUS, HARE__TO_DAEMON__MSG_SUBMIT, HARE__TO_DAEMON__MSG_QUEUE,
	HARE__TO_DAEMON__MSG_SHOW, HARE__TO_DAEMON__MSG_CANCEL, HARE__TO_DAEMON__MSG_NODES,
	HARE__TO_DAEMON__MSG_PROFILE_RESULT,
};
#define N_TO (sizeof(to_kinds) / sizeof(to_kinds[0]))

static const int from_kinds[] = {
	HARE__FROM_DAEMON__MSG_CHALLENGE, HARE__FROM_DAEMON__MSG_WELCOME, HARE__FROM_DAEMON__MSG_TASK_START,
	HARE__FROM_DAEMON__MSG_TASK_STOP, HARE__FROM_DAEMON__MSG_RENDEZVOUS, HARE__FROM_DAEMON__MSG_SUBMIT_REPLY,
	HARE__FROM_DAEMON__MSG_QUEUE_REPLY, HARE__FROM_DAEMON__MSG_SHOW_REPLY, HARE__FROM_DAEMON__MSG_CANCEL_REPLY,
	HARE__FROM_DAEMON__MSG_NODES_REPLY, HARE__FROM_DAEMON__MSG_ERROR,
	HARE__FROM_DAEMON__MSG_PROFILE_REQUEST,
};
#define N_FROM (sizeof(from_kinds) / sizeof(from_kinds[0]))

/* Field-by-field checks of what came back, for each kind. */
static void check_to_daemon(const Hare__ToDaemon *m, int kind)
{
	assert_int_equal(m->msg_case, kind);
	switch (kind) {
	case HARE__TO_DAEMON__MSG_HELLO:
		assert_int_equal(m->hello->version, 1);
		assert_int_equal(m->hello->role, HARE__ROLE__ROLE_AGENT);
		assert_string_equal(m->hello->node, "node-7");
		assert_null(m->hello->token);
		break;
	case HARE__TO_DAEMON__MSG_AUTH:
		assert_int_equal(m->auth->mac.len, 32);
		assert_memory_equal(m->auth->mac.data, mac, 32);
		break;
	case HARE__TO_DAEMON__MSG_REGISTER:
		assert_int_equal(m->register_->n_gpus, 2);
		assert_string_equal(m->register_->gpus[1]->type, "T4");
		assert_int_equal(m->register_->gpus[0]->memory_mib, 16384);
		assert_true(m->register_->gpus[0]->emulated);
		assert_int_equal(m->register_->running[0]->lease_id, 12);
		break;
	case HARE__TO_DAEMON__MSG_HEARTBEAT:
		assert_true(m->heartbeat->has_uptime_s);
		assert_true(m->heartbeat->uptime_s == 99.5);
		break;
	case HARE__TO_DAEMON__MSG_ROUND_REPORT:
		assert_int_equal(m->round_report->round_first, 1000);
		assert_int_equal(m->round_report->round_count, 17);
		assert_true(m->round_report->compute_s == 3.25);
		assert_false(m->round_report->has_loss);
		break;
	case HARE__TO_DAEMON__MSG_TASK_EXIT:
		assert_int_equal(m->task_exit->status, HARE__TASK_STATUS__TASK_STOPPED);
		assert_string_equal(m->task_exit->message, "stopped");
		break;
	case HARE__TO_DAEMON__MSG_RENDEZVOUS:
		assert_int_equal(m->rendezvous->data.len, sizeof(rdv));
		assert_memory_equal(m->rendezvous->data.data, rdv, sizeof(rdv));
		break;
	case HARE__TO_DAEMON__MSG_SUBMIT:
		assert_string_equal(m->submit->spec->model, "resnet50");
		assert_int_equal(m->submit->spec->rounds, 5000);
		assert_int_equal(m->submit->spec->n_gpu_types, 2);
		assert_string_equal(m->submit->spec->gpu_types[1], "T4");
		assert_null(m->submit->spec->name);
		break;
	case HARE__TO_DAEMON__MSG_QUEUE:
		assert_true(m->queue->has_all && m->queue->all);
		break;
	case HARE__TO_DAEMON__MSG_SHOW:
		assert_int_equal(m->show->job_id, 77);
		break;
	case HARE__TO_DAEMON__MSG_CANCEL:
		assert_int_equal(m->cancel->n_job_ids, 3);
		assert_int_equal(m->cancel->job_ids[2], 8);
		break;
	case HARE__TO_DAEMON__MSG_NODES:
		assert_non_null(m->nodes);
		break;
	case HARE__TO_DAEMON__MSG_PROFILE_RESULT:
		assert_string_equal(m->profile_result->gpu_type, "H100");
		assert_true(m->profile_result->ok);
		assert_int_equal(m->profile_result->n_rows, 1);
		assert_string_equal(m->profile_result->rows[0]->placement, "spread");
		assert_true(m->profile_result->rows[0]->compute_s == 0.0125);
		assert_null(m->profile_result->message);
		break;
	}
}

static void check_from_daemon(const Hare__FromDaemon *m, int kind)
{
	assert_int_equal(m->msg_case, kind);
	switch (kind) {
	case HARE__FROM_DAEMON__MSG_CHALLENGE:
		assert_memory_equal(m->challenge->nonce.data, nonce, 32);
		break;
	case HARE__FROM_DAEMON__MSG_WELCOME:
		assert_int_equal(m->welcome->agent_id, 3);
		break;
	case HARE__FROM_DAEMON__MSG_TASK_START:
		assert_string_equal(m->task_start->model, "bert");
		assert_int_equal(m->task_start->round_count, 123456789012ull);
		assert_null(m->task_start->command);
		break;
	case HARE__FROM_DAEMON__MSG_TASK_STOP:
		assert_int_equal(m->task_stop->lease_id, 9);
		break;
	case HARE__FROM_DAEMON__MSG_RENDEZVOUS:
		assert_memory_equal(m->rendezvous->data.data, rdv, sizeof(rdv));
		break;
	case HARE__FROM_DAEMON__MSG_SUBMIT_REPLY:
		assert_int_equal(m->submit_reply->job_id, 42);
		break;
	case HARE__FROM_DAEMON__MSG_QUEUE_REPLY:
		assert_int_equal(m->queue_reply->n_jobs, 1);
		assert_string_equal(m->queue_reply->jobs[0]->user, "alice");
		assert_int_equal(m->queue_reply->jobs[0]->placement[0]->tasks, 3);
		break;
	case HARE__FROM_DAEMON__MSG_SHOW_REPLY:
		assert_int_equal(m->show_reply->job->state, HARE__JOB_STATE__RUNNING);
		assert_true(m->show_reply->job->weight == 2);
		break;
	case HARE__FROM_DAEMON__MSG_CANCEL_REPLY:
		assert_int_equal(m->cancel_reply->n_results, 2);
		assert_null(m->cancel_reply->results[0]->message);
		assert_string_equal(m->cancel_reply->results[1]->message, "not your job");
		break;
	case HARE__FROM_DAEMON__MSG_NODES_REPLY:
		assert_string_equal(m->nodes_reply->nodes[0]->gpus[0]->type, "K80");
		assert_int_equal(m->nodes_reply->nodes[0]->gpus[0]->job_id, 7);
		break;
	case HARE__FROM_DAEMON__MSG_PROFILE_REQUEST:
		assert_string_equal(m->profile_request->gpu_type, "H100");
		assert_int_equal(m->profile_request->n_models, 2);
		assert_string_equal(m->profile_request->models[1], "lm");
		break;
	case HARE__FROM_DAEMON__MSG_ERROR:
		assert_int_equal(m->error->code, ERR_BAD_SPEC);
		assert_string_equal(m->error->message, "gpus must be between 1 and 64, got 0");
		break;
	}
}

/* ---- helpers ---- */

static uint8_t *encode_to(int kind, size_t *len)
{
	Hare__ToDaemon m;
	uint8_t *buf = NULL;

	to_daemon_set(&m, kind);
	assert_int_equal(wire_encode_to_daemon(&m, 0, &buf, len), 0);
	return buf;
}

static uint8_t *encode_from(int kind, size_t *len)
{
	Hare__FromDaemon m;
	uint8_t *buf = NULL;

	from_daemon_set(&m, kind);
	assert_int_equal(wire_encode_from_daemon(&m, 0, &buf, len), 0);
	return buf;
}

/* The stream of every ToDaemon kind, then every FromDaemon kind. */
static uint8_t *stream_all(size_t *len)
{
	uint8_t *out = NULL;
	size_t total = 0;

	for (size_t i = 0; i < N_TO + N_FROM; i++) {
		size_t n;
		uint8_t *f = i < N_TO ? encode_to(to_kinds[i], &n) : encode_from(from_kinds[i - N_TO], &n);

		out = realloc(out, total + n);
		assert_non_null(out);
		memcpy(out + total, f, n);
		total += n;
		free(f);
	}
	*len = total;
	return out;
}

/* Take every complete frame out of r, checking each against the stream's
 * sequence; returns how many frames the sequence has seen so far. */
static size_t drain_check(struct wire_reader *r, size_t seen)
{
	const uint8_t *p;
	size_t n;
	int rc;

	while ((rc = wire_reader_next(r, &p, &n)) == 1) {
		assert_true(seen < N_TO + N_FROM);
		if (seen < N_TO) {
			Hare__ToDaemon *m = NULL;

			assert_int_equal(wire_decode_to_daemon(p, n, &m), 0);
			check_to_daemon(m, to_kinds[seen]);
			hare__to_daemon__free_unpacked(m, NULL);
		} else {
			Hare__FromDaemon *m = NULL;

			assert_int_equal(wire_decode_from_daemon(p, n, &m), 0);
			check_from_daemon(m, from_kinds[seen - N_TO]);
			hare__from_daemon__free_unpacked(m, NULL);
		}
		seen++;
	}
	assert_int_equal(rc, 0);
	return seen;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- tests ---- */

static void test_round_trip_each_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_TO; i++) {
		size_t len;
		uint8_t *buf = encode_to(to_kinds[i], &len);
		Hare__ToDaemon *m = NULL;
		uint32_t plen = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];

		assert_int_equal(plen + WIRE_HEADER_LEN, len);
		assert_int_equal(wire_decode_to_daemon(buf + WIRE_HEADER_LEN, plen, &m), 0);
		check_to_daemon(m, to_kinds[i]);
		hare__to_daemon__free_unpacked(m, NULL);
		free(buf);
	}
	for (size_t i = 0; i < N_FROM; i++) {
		size_t len;
		uint8_t *buf = encode_from(from_kinds[i], &len);
		Hare__FromDaemon *m = NULL;

		assert_int_equal(wire_decode_from_daemon(buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN, &m), 0);
		check_from_daemon(m, from_kinds[i]);
		hare__from_daemon__free_unpacked(m, NULL);
		free(buf);
	}
}

static void test_many_frames_one_feed(void **state)
{
	struct wire_reader r;
	size_t len;
	uint8_t *s = stream_all(&len);

	(void)state;
	wire_reader_init(&r, 0);
	assert_int_equal(r.max_frame, WIRE_FRAME_MAX_DEFAULT);
	assert_int_equal(wire_reader_feed(&r, s, len), 0);
	assert_int_equal(drain_check(&r, 0), N_TO + N_FROM);
	wire_reader_destroy(&r);
	free(s);
}

static void test_byte_by_byte(void **state)
{
	struct wire_reader r;
	size_t len, seen = 0;
	uint8_t *s = stream_all(&len);

	(void)state;
	wire_reader_init(&r, 0);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(wire_reader_feed(&r, s + i, 1), 0);
		seen = drain_check(&r, seen);
	}
	assert_int_equal(seen, N_TO + N_FROM);
	assert_int_equal(r.len - r.off, 0);
	wire_reader_destroy(&r);
	free(s);
}

/* Chunks of every size from 2 to 97 bytes: frames split at all offsets. */
static void test_split_chunks(void **state)
{
	size_t len;
	uint8_t *s = stream_all(&len);

	(void)state;
	for (size_t chunk = 2; chunk < 98; chunk++) {
		struct wire_reader r;
		size_t seen = 0;

		wire_reader_init(&r, 0);
		for (size_t i = 0; i < len; i += chunk) {
			size_t n = len - i < chunk ? len - i : chunk;

			assert_int_equal(wire_reader_feed(&r, s + i, n), 0);
			seen = drain_check(&r, seen);
		}
		assert_int_equal(seen, N_TO + N_FROM);
		wire_reader_destroy(&r);
	}
	free(s);
}

/* A long conversation through one reader keeps its buffer small: consumed
 * bytes are dropped, not accumulated. */
static void test_compaction(void **state)
{
	struct wire_reader r;
	size_t len;
	uint8_t *f = encode_to(HARE__TO_DAEMON__MSG_ROUND_REPORT, &len);
	uint8_t *s = malloc(len * 1000);
	size_t frames = 0;

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < 1000; i++)
		memcpy(s + i * len, f, len);
	wire_reader_init(&r, 0);
	for (size_t i = 0; i < len * 1000; i += 7) {
		const uint8_t *p;
		size_t n;

		assert_int_equal(wire_reader_feed(&r, s + i, len * 1000 - i < 7 ? len * 1000 - i : 7), 0);
		while (wire_reader_next(&r, &p, &n) == 1) {
			assert_int_equal(n, len - WIRE_HEADER_LEN);
			assert_memory_equal(p, f + WIRE_HEADER_LEN, n);
			frames++;
		}
		assert_true(r.cap <= 4096);
	}
	assert_int_equal(frames, 1000);
	wire_reader_destroy(&r);
	free(s);
	free(f);
}

static void test_oversize_header(void **state)
{
	struct wire_reader r;
	static uint8_t data[16384];
	const uint8_t *p;
	size_t n;

	(void)state;
	wire_reader_init(&r, 8192);
	put_be32(data, 8193);
	/* Header split across feeds: the first half says nothing yet. */
	assert_int_equal(wire_reader_feed(&r, data, 2), 0);
	assert_int_equal(wire_reader_feed(&r, data + 2, sizeof(data) - 2), ERR_FRAME_TOO_BIG);
	/* Only the header was kept, none of the announced payload. */
	assert_int_equal(r.len - r.off, WIRE_HEADER_LEN);
	assert_true(r.cap < 8193);
	assert_int_equal(wire_reader_next(&r, &p, &n), ERR_FRAME_TOO_BIG);
	/* A reader in that state stays refused. */
	assert_int_equal(wire_reader_feed(&r, data, 10), ERR_FRAME_TOO_BIG);
	assert_int_equal(r.len - r.off, WIRE_HEADER_LEN);
	wire_reader_destroy(&r);

	/* 4 GiB - 1 against the default cap, in one feed of only the header. */
	wire_reader_init(&r, 0);
	put_be32(data, 0xffffffffu);
	assert_int_equal(wire_reader_feed(&r, data, WIRE_HEADER_LEN), ERR_FRAME_TOO_BIG);
	assert_true(r.cap <= 4096);
	wire_reader_destroy(&r);
}

/* A good frame and an oversize one in the same feed: the good one can still
 * be read, then the reader reports the oversize one. */
static void test_good_then_oversize(void **state)
{
	struct wire_reader r;
	size_t len;
	uint8_t *f = encode_to(HARE__TO_DAEMON__MSG_SHOW, &len);
	uint8_t data[512];
	const uint8_t *p;
	size_t n;

	(void)state;
	memcpy(data, f, len);
	put_be32(data + len, 200);
	memset(data + len + 4, 0xab, sizeof(data) - len - 4);
	wire_reader_init(&r, 100);
	assert_int_equal(wire_reader_feed(&r, data, sizeof(data)), ERR_FRAME_TOO_BIG);
	assert_int_equal(r.len - r.off, len + WIRE_HEADER_LEN);
	assert_int_equal(wire_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, len - WIRE_HEADER_LEN);
	assert_int_equal(wire_reader_next(&r, &p, &n), ERR_FRAME_TOO_BIG);
	wire_reader_destroy(&r);
	free(f);
}

/* A payload of exactly max_frame is allowed, one byte more is not. */
static void test_frame_at_cap(void **state)
{
	struct wire_reader r;
	uint8_t data[WIRE_HEADER_LEN + 64] = { 0 };
	const uint8_t *p;
	size_t n;

	(void)state;
	wire_reader_init(&r, 64);
	put_be32(data, 64);
	assert_int_equal(wire_reader_feed(&r, data, sizeof(data)), 0);
	assert_int_equal(wire_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 64);
	put_be32(data, 65);
	assert_int_equal(wire_reader_feed(&r, data, 8), ERR_FRAME_TOO_BIG);
	wire_reader_destroy(&r);
}

/* A zero-length frame is a frame (its payload then fails to decode). */
static void test_empty_frame(void **state)
{
	struct wire_reader r;
	uint8_t data[WIRE_HEADER_LEN] = { 0 };
	const uint8_t *p = NULL;
	size_t n = 99;
	Hare__ToDaemon *m = NULL;

	(void)state;
	wire_reader_init(&r, 0);
	assert_int_equal(wire_reader_feed(&r, data, sizeof(data)), 0);
	assert_int_equal(wire_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(wire_decode_to_daemon(p, n, &m), ERR_PROTO);
	assert_null(m);
	assert_int_equal(wire_reader_next(&r, &p, &n), 0);
	wire_reader_destroy(&r);
}

static void test_garbage_payload(void **state)
{
	static const uint8_t bad[][8] = {
		{ 0xff, 0xff, 0xff, 0xff },		/* key varint never ends */
		{ 0x0a, 0x7f, 0x08, 0x01 },		/* hello longer than the payload */
		{ 0x0b, 0x00 },				/* start-group wire type */
		{ 0x0a, 0x02, 0x08 },			/* truncated inside hello */
	};
	static const size_t lens[] = { 4, 4, 2, 3 };

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		Hare__ToDaemon *to = NULL;
		Hare__FromDaemon *from = NULL;

		assert_int_equal(wire_decode_to_daemon(bad[i], lens[i], &to), ERR_PROTO);
		assert_int_equal(wire_decode_from_daemon(bad[i], lens[i], &from), ERR_PROTO);
		assert_null(to);
		assert_null(from);
	}
}

static void test_empty_oneof(void **state)
{
	/* Only an unknown field (99, varint 1): valid protobuf, no member set. */
	static const uint8_t unknown[] = { 0x98, 0x06, 0x01 };
	Hare__ToDaemon *to = NULL;
	Hare__FromDaemon *from = NULL;

	(void)state;
	assert_int_equal(wire_decode_to_daemon(unknown, sizeof(unknown), &to), ERR_PROTO);
	assert_int_equal(wire_decode_from_daemon(unknown, sizeof(unknown), &from), ERR_PROTO);
	assert_int_equal(wire_decode_to_daemon(unknown, 0, &to), ERR_PROTO);
	assert_int_equal(wire_decode_from_daemon(unknown, 0, &from), ERR_PROTO);
	assert_null(to);
	assert_null(from);
}

/* Hello {version 1} without its required role. */
static void test_missing_required(void **state)
{
	static const uint8_t hello_no_role[] = { 0x0a, 0x02, 0x08, 0x01 };
	static const uint8_t hello_ok[] = { 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02 };
	Hare__ToDaemon *m = NULL;

	(void)state;
	assert_int_equal(wire_decode_to_daemon(hello_no_role, sizeof(hello_no_role), &m), ERR_PROTO);
	assert_int_equal(wire_decode_to_daemon(hello_ok, sizeof(hello_ok), &m), 0);
	assert_int_equal(m->hello->role, HARE__ROLE__ROLE_CLIENT);
	hare__to_daemon__free_unpacked(m, NULL);
}

/* A string with an embedded NUL, at the top level of a message and nested
 * (JobSpec.model inside Submit), is malformed; bytes fields may hold NULs. */
static void test_string_with_nul(void **state)
{
	static const uint8_t node_nul[] = { 0x0a, 0x09, 0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 'a', 0, 'b' };
	static const uint8_t model_nul[] = {
		0x52, 0x0a,				/* submit (10), 10 bytes */
		0x0a, 0x08,				/* spec, 8 bytes */
		0x12, 0x02, 'x', 0,			/* model "x\0" */
		0x18, 0x01, 0x30, 0x01,			/* tasks 1, rounds 1 */
	};
	Hare__ToDaemon *m = NULL;
	Hare__FromDaemon *f = NULL;
	size_t len;
	uint8_t *buf = encode_from(HARE__FROM_DAEMON__MSG_RENDEZVOUS, &len);

	(void)state;
	assert_int_equal(wire_decode_to_daemon(node_nul, sizeof(node_nul), &m), ERR_PROTO);
	assert_int_equal(wire_decode_to_daemon(model_nul, sizeof(model_nul), &m), ERR_PROTO);
	assert_null(m);
	assert_int_equal(wire_decode_from_daemon(buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN, &f), 0);
	hare__from_daemon__free_unpacked(f, NULL);
	free(buf);
}

static void test_encode_refusals(void **state)
{
	Hare__ToDaemon to = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon from = HARE__FROM_DAEMON__INIT;
	Hare__Error no_message = HARE__ERROR__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(wire_encode_to_daemon(&to, 0, &buf, &len), ERR_PROTO);
	assert_int_equal(wire_encode_from_daemon(&from, 0, &buf, &len), ERR_PROTO);
	from.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
	from.error = &no_message;
	assert_int_equal(wire_encode_from_daemon(&from, 0, &buf, &len), ERR_PROTO);
	to_daemon_set(&to, HARE__TO_DAEMON__MSG_REGISTER);
	assert_int_equal(wire_encode_to_daemon(&to, 16, &buf, &len), ERR_FRAME_TOO_BIG);
	assert_null(buf);
	assert_int_equal(wire_encode_to_daemon(&to, 4096, &buf, &len), 0);
	assert_non_null(buf);
	free(buf);
}

/* hared's Error in the clear, as a TLS client finds it: whole frames only,
 * Errors only, the text ASCII without control, C1 or bidi characters. */
static void test_peek_error(void **state)
{
	Hare__FromDaemon m = HARE__FROM_DAEMON__INIT;
	Hare__Error e = HARE__ERROR__INIT;
	Hare__Welcome w = HARE__WELCOME__INIT;
	uint8_t *buf;
	size_t len;
	char msg[64];

	(void)state;
	e.code = -16;
	e.message = "busy \x1b[31m\xc2\x9b" "31m \xe2\x80\xae ok";
	m.msg_case = HARE__FROM_DAEMON__MSG_ERROR;
	m.error = &e;
	assert_int_equal(wire_encode_from_daemon(&m, 0, &buf, &len), 0);
	assert_true(wire_peek_error(buf, len, msg, sizeof(msg)));
	assert_string_equal(msg, "busy ?[31m??31m ??? ok");
	assert_false(wire_peek_error(buf, len - 1, msg, sizeof(msg)));	/* not whole */
	assert_true(wire_peek_error(buf, len, msg, 5));
	assert_string_equal(msg, "busy");
	free(buf);
	m.msg_case = HARE__FROM_DAEMON__MSG_WELCOME;
	m.welcome = &w;
	assert_int_equal(wire_encode_from_daemon(&m, 0, &buf, &len), 0);
	assert_false(wire_peek_error(buf, len, msg, sizeof(msg)));	/* not an Error */
	free(buf);
	assert_false(wire_peek_error((const uint8_t *)"\x16\x03\x01\x00", 4, msg, sizeof(msg)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_each_kind),
		cmocka_unit_test(test_many_frames_one_feed),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_split_chunks),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_oversize_header),
		cmocka_unit_test(test_good_then_oversize),
		cmocka_unit_test(test_frame_at_cap),
		cmocka_unit_test(test_empty_frame),
		cmocka_unit_test(test_garbage_payload),
		cmocka_unit_test(test_empty_oneof),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_string_with_nul),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_peek_error),
	};

	fill_messages();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
