/* SPDX-License-Identifier: MIT */
/* Tests: start a program with its stdout on a pipe (the report lines a
 * worker writes there) and read them as they come. */
#ifndef HARE_TEST_SPAWN_STDOUT_H
#define HARE_TEST_SPAWN_STDOUT_H

#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

/* Run argv (argv[0] the program's path, NULL-terminated) with its stdout on
 * a pipe: the read end as a FILE, the child's pid in *pid; NULL (and *pid
 * -1) when the pipe or the fork failed. */
static inline FILE *spawn_stdout(const char *const *argv, pid_t *pid)
{
	int fds[2];

	*pid = -1;
	if (pipe(fds) < 0)
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	return fdopen(fds[0], "r");
}

#endif
