/* SPDX-License-Identifier: MIT */
/* harectl usage: GPU-seconds the jobs' leases held inside a window, by user
 * and GPU type, summed off the daemon's loop. */
#ifndef HARE_DAEMON_USAGE_H
#define HARE_DAEMON_USAGE_H

#include "hare.pb-c.h"

struct conn;

/* Sum on the thread pool and reply to c (anyone may ask); one sum at a
 * time, another is told to try again; a window that cannot be is refused
 * at once. */
void usage_request(struct conn *c, const Hare__UsageRequest *m);

#endif
