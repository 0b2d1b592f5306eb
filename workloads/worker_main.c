/* SPDX-License-Identifier: MIT */
/* hare-worker: one rank of a job's lease, started by hare-agent: emulated
 * (--emulate), real training (the CUDA engine, loaded at run time), or
 * --profile. */
#include "worker.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Whether process pid has ended: gone, or a zombie not reaped yet. */
static bool worker_pid_ended(pid_t pid)
{
	char path[64], buf[256], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kill(pid, 0) < 0 && errno == ESRCH;	/* no /proc: ask the kernel */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;	/* it went while we looked */
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* --parent-pid: the kernel kills this process when its parent ends, even by
 * SIGKILL. If parent ended before that took effect, this process was handed
 * to another one already: it ends now. A parent that is alive but not the
 * direct one (a wrapper script that does not exec) is warned about: this
 * process then ends with the wrapper, not with parent. */
static int worker_parent_watch(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		fprintf(stderr, "hare-worker: --parent-pid: prctl: %s\n", strerror(errno));
		return -1;
	}
	if (getppid() == parent)
		return 0;
	if (worker_pid_ended(parent)) {
		fprintf(stderr, "hare-worker: --parent-pid: process %d has ended\n", (int)parent);
		return -1;
	}
	fprintf(stderr, "hare-worker: --parent-pid: process %d is not this worker's parent (a "
		"wrapper that does not exec?); this worker ends with its parent, %d, instead\n",
		(int)parent, (int)getppid());
	return 0;
}

int main(int argc, char **argv)
{
	struct worker_opts o;
	char err[256];
	const char *level = getenv("HARE_LOG_LEVEL");
	int rc;

	if (level && log_level_set(level) < 0)
		fprintf(stderr, "hare-worker: HARE_LOG_LEVEL: unknown level '%s', using info\n", level);
	rc = worker_opts_parse(argc, argv, &o, err, sizeof(err));
	if (rc == 1)
		return WORKER_EXIT_OK;
	if (rc < 0) {
		fprintf(stderr, "hare-worker: %s\n", err);
		return WORKER_EXIT_USAGE;
	}
	if (o.parent_pid && worker_parent_watch((pid_t)o.parent_pid) < 0)
		return WORKER_EXIT_FAILED;
	if (o.profile)
		return worker_profile_run(&o);
	if (!o.emulate)
		return worker_real_run(&o);
	return worker_emulate_run(&o);
}
