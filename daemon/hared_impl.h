/* SPDX-License-Identifier: MIT */
/* What hared.c (start-up: configuration files, state_dir, store, driver) and
 * hared_loop.c (timers, signals, reloads, start and shutdown) share. */
#ifndef HARE_DAEMON_HARED_IMPL_H
#define HARE_DAEMON_HARED_IMPL_H

#include "driver.h"
#include "hared.h"

/* hared.c */

/* Forget the client users' tokens (zeroed) and their TLS identities. */
void hared_users_free(struct hared *d);
/* agent_keys_dir: a folder hared can read (a warning when group or others
 * may write in it). 0, or a negative errno with the reason in errbuf. */
int hared_keys_dir_check(const char *dir, char *errbuf, size_t errlen);
/* The driver's options from the configuration (at start, and at a reload). */
struct driver_opts hared_driver_opts(const struct hared_config *cfg);

#endif
