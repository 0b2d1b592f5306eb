/* SPDX-License-Identifier: MIT */
/* What conn.c (the connection table, closing, writing, reading, agents) and
 * conn_accept.c (listeners, accepting, the limits on peers) share. */
#ifndef HARE_DAEMON_CONN_IMPL_H
#define HARE_DAEMON_CONN_IMPL_H

#include "conn.h"

/* conn.c */

/* Add c to d's connection table; its id is above every other's. 0 or
 * -ENOMEM. */
int conn_table_add(struct hared *d, struct conn *c);
/* The read callbacks of every connection's stream (uv_read_start). */
void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* conn_accept.c */

/* Count a connection turned away; say why at most once every 10 s. */
void conn_refused_note(struct hared *d, const char *why);

#endif
