/* SPDX-License-Identifier: MIT */
/* Durable writes: a whole buffer to a descriptor, and a directory's entries
 * to disk (after a rename into it); pid lock files; data folders installed
 * beside the programs. */
#ifndef HARE_FILEIO_H
#define HARE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

/* Write all n bytes (retrying short writes and EINTR). 0 or -errno. */
int file_write_all(int fd, const void *data, size_t n);

/* fsync the directory dir, so a rename into it survives a crash. 0 or
 * -errno. */
int file_sync_dir(const char *dir);

/* One process per folder: flock path (made 0640 if missing; close-on-exec,
 * so children never hold it; the kernel drops it however the process ends)
 * and write this pid into it. 0 (*fd the lock; 1 when the pid could not be
 * written), -EBUSY when another process holds it (its pid in holder, ""
 * if unknown), or -errno. */
int file_lock_pid(const char *path, int *fd, char *holder, size_t holder_len);

/* A data folder installed beside the programs: the folder rel from the
 * running program's folder (rel "../share/hare/profiles": bin/'s sibling,
 * wherever cmake --install --prefix put both) into out (len bytes), when
 * it holds a readable file probe. False, out unchanged, when it does not. */
bool file_beside_exe(const char *rel, const char *probe, char *out, size_t len);

#endif
