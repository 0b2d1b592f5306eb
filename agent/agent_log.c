/* SPDX-License-Identifier: MIT */
/* Workers' output: each rank's stdout and stderr go to one file per (job,
 * rank) in the task log directory, appended lease after lease behind a line
 * that says which lease it is; a failed task's message quotes its last line;
 * LogFetch sends the file's end to the daemon (harectl logs). */
#include "agent_impl.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How much of the file's end a failed task's last line is looked for in. */
#define AGENT_LOG_TAIL 4096
/* The most a LogFetch returns (the daemon asks for at most 1 MiB). */
#define AGENT_LOG_FETCH_MAX (1u << 20)

/* Open an output file without following a symlink or waiting on a FIFO
 * planted under its name; anything but a regular file is refused
 * (-EINVAL). The fd (blocking again) or -errno. */
static int agent_log_open_file(const char *path, int flags)
{
	struct stat st;
	int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* Now, for the agent's lines: 2026-12-06T10:29:07Z. */
static void agent_log_when(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool agent_log_dir(const struct agent *a, char *buf, size_t len)
{
	const char *d = a->cfg.task_logs;

	if (strcmp(d, "none") == 0)
		return false;
	if (d[0])
		snprintf(buf, len, "%s", d);
	else
		snprintf(buf, len, "%s/logs", a->cfg.work_dir);
	return true;
}

bool agent_log_path(const struct agent *a, uint64_t job, uint32_t rank, char *buf, size_t len)
{
	char dir[AGENT_PATH_MAX + 8];

	if (!agent_log_dir(a, dir, sizeof(dir)))
		return false;
	return (size_t)snprintf(buf, len, "%s/job-%llu.rank-%u.log", dir, (unsigned long long)job,
				rank) < len;
}

int agent_log_open(struct agent_task *t, const Hare__TaskStart *m, const char *gpu_type)
{
	struct agent *a = t->agent;
	char path[AGENT_FILE_MAX], when[32], head[512];
	off_t end;
	int fd, n;

	t->log_off = -1;
	if (!agent_log_path(a, m->job_id, m->rank, path, sizeof(path)))
		return -1;
	fd = agent_log_open_file(path, O_WRONLY | O_CREAT | O_APPEND);
	if (fd < 0) {
		log_warn("task job=%llu rank=%u: cannot open its output file %s: %s; its output "
			 "goes to the agent's log", (unsigned long long)m->job_id, m->rank, path,
			 strerror(-fd));
		return -1;
	}
	agent_log_when(when, sizeof(when));
	n = snprintf(head, sizeof(head),
		     "hare-agent %s: job %llu lease %llu rank %u/%u on node %s GPU %u (%s), "
		     "rounds %llu..%llu\n", when, (unsigned long long)m->job_id,
		     (unsigned long long)m->lease_id, m->rank, m->world_size, a->cfg.node,
		     m->gpu_index, gpu_type, (unsigned long long)m->round_first,
		     (unsigned long long)(m->round_first + m->round_count));
	if (write(fd, head, (size_t)n) != n)
		log_warn("task job=%llu rank=%u: cannot write to %s: %s",
			 (unsigned long long)m->job_id, m->rank, path, strerror(errno));
	end = lseek(fd, 0, SEEK_END);
	t->log_off = end < 0 ? -1 : (int64_t)end;
	return fd;
}

void agent_log_end(const struct agent_task *t)
{
	char path[AGENT_FILE_MAX], when[32], line[1024];
	const char *status = t->status == HARE__TASK_STATUS__TASK_OK ? "done" :
			     t->status == HARE__TASK_STATUS__TASK_STOPPED ? "stopped" : "failed";
	const char *cut = strstr(t->message, "; last output: ");
	int fd, n;

	if (t->log_off < 0 || !agent_log_path(t->agent, t->job_id, t->rank, path, sizeof(path)))
		return;
	fd = agent_log_open_file(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		return;
	agent_log_when(when, sizeof(when));
	n = snprintf(line, sizeof(line), "hare-agent %s: job %llu lease %llu rank %u %s%s%s%s: %.*s\n",
		     when, (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
		     status, t->stop_reason[0] ? " (" : "", t->stop_reason,
		     t->stop_reason[0] ? ")" : "",
		     (int)(cut ? (size_t)(cut - t->message) : strlen(t->message)), t->message);
	if (n >= (int)sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		log_debug("task job=%llu rank=%u: cannot write to %s: %s",
			  (unsigned long long)t->job_id, t->rank, path, strerror(errno));
	close(fd);
}

/* The end of output file path: at most max bytes, none before byte from,
 * into buf; its stat in *st. The bytes read, or -errno (-EINVAL: not a
 * regular file). */
static ssize_t agent_log_read_end(const char *path, uint64_t from, size_t max, void *buf,
				  struct stat *st)
{
	int fd = agent_log_open_file(path, O_RDONLY);
	uint64_t size, start;
	ssize_t n = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0) {
		n = -errno;
	} else if ((size = (uint64_t)st->st_size) > from) {
		start = size - from > max ? size - max : from;
		n = pread(fd, buf, (size_t)(size - start), (off_t)start);
		if (n < 0)
			n = -errno;
	}
	close(fd);
	return n;
}

/* The last non-empty line of what the task wrote, printable, at most len-1
 * bytes (the end of a longer line). "" when none is known. */
void agent_log_last_line(const struct agent_task *t, char *out, size_t len)
{
	char path[AGENT_FILE_MAX], buf[AGENT_LOG_TAIL];
	struct stat st;
	ssize_t n;
	size_t e, b, k = 0;

	out[0] = '\0';
	if (t->log_off < 0 || len < 2 || !agent_log_path(t->agent, t->job_id, t->rank, path,
							      sizeof(path)))
		return;
	n = agent_log_read_end(path, (uint64_t)t->log_off, sizeof(buf), buf, &st);
	if (n <= 0)
		return;
	/* the last line that is not blank and not the agent's own (a lease of
	 * the job that ended meanwhile on another GPU of the node) */
	e = (size_t)n;
	for (;;) {
		while (e > 0 && (buf[e - 1] == '\n' || buf[e - 1] == '\r' || buf[e - 1] == ' ' ||
				 buf[e - 1] == '\t'))
			e--;
		if (e == 0)
			return;
		b = e;
		while (b > 0 && buf[b - 1] != '\n')
			b--;
		if (e - b < 11 || memcmp(buf + b, "hare-agent ", 11) != 0)
			break;
		e = b;
	}
	if (e - b > len - 1)
		b = e - (len - 1);
	for (size_t i = b; i < e; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == 0xc2 && i + 1 < e && (unsigned char)buf[i + 1] >= 0x80 &&
		    (unsigned char)buf[i + 1] <= 0x9f) {
			out[k++] = '?';	/* a C1 control in UTF-8 (U+009B is a CSI) */
			i++;
			continue;
		}
		out[k++] = c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[k] = '\0';
}

static void agent_log_reply(struct agent *a, const Hare__LogFetch *m, Hare__LogPart *part,
			    const char *message)
{
	Hare__ToDaemon out = HARE__TO_DAEMON__INIT;
	Hare__LogData r = HARE__LOG_DATA__INIT;

	r.request_id = m->request_id;
	r.part = part;
	r.message = (char *)message;
	out.msg_case = HARE__TO_DAEMON__MSG_LOG_DATA;
	out.log_data = &r;
	agent_link_send(a, &out);
}

static bool agent_log_job_here(const struct agent *a, uint64_t job)
{
	for (const struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id == job)
			return true;
	}
	return false;
}

void agent_log_prune_due(struct agent *a)
{
	if (agent_now_ms(a) - a->pruned_ms >= AGENT_LOG_PRUNE_MS)
		agent_log_prune(a, time(NULL));
}

uint32_t agent_log_prune(struct agent *a, time_t now)
{
	char dir[AGENT_PATH_MAX + 8], path[AGENT_FILE_MAX + 300];
	int64_t cutoff = (int64_t)now - (int64_t)a->cfg.task_log_keep_days * 86400;
	uint32_t n = 0;
	struct dirent *e;
	DIR *d;

	agent_account_ckpt_sweep(a);
	a->pruned_ms = agent_now_ms(a);
	if (a->cfg.task_log_keep_days == 0 || !agent_log_dir(a, dir, sizeof(dir)))
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		unsigned long long job;
		unsigned rank;
		struct stat st;
		char name[64];

		/* only names the agent makes, exactly (no sign, blank or zero
		 * sscanf would let through) */
		if (sscanf(e->d_name, "job-%llu.rank-%u.log", &job, &rank) != 2)
			continue;
		snprintf(name, sizeof(name), "job-%llu.rank-%u.log", job, rank);
		if (strcmp(name, e->d_name) != 0 || agent_log_job_here(a, job))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (int64_t)st.st_mtime >= cutoff)
			continue;
		if (unlink(path) == 0)
			n++;
		else
			log_warn("cannot delete old output file %s: %s", path, strerror(errno));
	}
	closedir(d);
	if (n)
		log_info("deleted %u output file(s) unchanged for %u days from %s", n,
			 a->cfg.task_log_keep_days, dir);
	return n;
}

void agent_log_on_fetch(struct agent *a, const Hare__LogFetch *m)
{
	Hare__LogPart part = HARE__LOG_PART__INIT;
	char path[AGENT_FILE_MAX], msg[AGENT_FILE_MAX + 64];
	uint32_t want = m->max_bytes < AGENT_LOG_FETCH_MAX ? m->max_bytes : AGENT_LOG_FETCH_MAX;
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t n;

	if (!agent_log_path(a, m->job_id, m->rank, path, sizeof(path))) {
		agent_log_reply(a, m, NULL, NULL);	/* none kept here */
		return;
	}
	buf = malloc(want ? want : 1);
	if (!buf) {
		snprintf(msg, sizeof(msg), "cannot read %s: out of memory", path);
		goto fail;
	}
	n = agent_log_read_end(path, 0, want, buf, &st);
	if (n == -ENOENT) {
		free(buf);
		agent_log_reply(a, m, NULL, NULL);
		return;
	}
	if (n < 0) {
		snprintf(msg, sizeof(msg), "cannot read %s: %s", path, n == -EINVAL || n == -ELOOP ?
			 "not a regular file" : strerror((int)-n));
		goto fail;
	}
	part.node = a->cfg.node;
	part.path = path;
	part.data.data = buf;
	part.data.len = (size_t)n;
	part.size = (uint64_t)st.st_size;
	part.has_mtime = true;
	part.mtime = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	agent_log_reply(a, m, &part, NULL);
	free(buf);
	return;
fail:
	free(buf);
	log_warn("log fetch job=%llu rank=%u: %s", (unsigned long long)m->job_id, m->rank, msg);
	agent_log_reply(a, m, NULL, msg);
}
