/* SPDX-License-Identifier: MIT */
/* Durable writes: a whole buffer to a descriptor, and a directory's entries
 * to disk (after a rename into it). */
#ifndef HARE_FILEIO_H
#define HARE_FILEIO_H

#include <stddef.h>

/* Write all n bytes (retrying short writes and EINTR). 0 or -errno. */
int file_write_all(int fd, const void *data, size_t n);

/* fsync the directory dir, so a rename into it survives a crash. 0 or
 * -errno. */
int file_sync_dir(const char *dir);

#endif
