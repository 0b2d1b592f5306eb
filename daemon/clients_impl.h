/* SPDX-License-Identifier: MIT */
/* What the client request handlers share: clients.c (job specs, submit),
 * clients_jobs.c (queue, show, cancel, update) and clients_nodes.c
 * (history, nodes, drain, forget). */
#ifndef HARE_DAEMON_CLIENTS_IMPL_H
#define HARE_DAEMON_CLIENTS_IMPL_H

#include "clients.h"

/* A request's text field what: shorter than cap bytes, UTF-8 without
 * control or bidirectional formatting characters. 0, or ERR_BAD_SPEC with
 * the reason in errbuf. */
int clients_spec_text(const char *what, const char *text, size_t cap, char *errbuf, size_t errlen);
/* A job's weight (submit, update): 0 or ERR_BAD_SPEC. */
int clients_spec_weight(double w, char *errbuf, size_t errlen);
/* max_user_weight: a weight above it is root's to give. 0, or ERR_BAD_SPEC. */
int clients_weight_allowed(const struct conn *c, double weight, char *errbuf, size_t errlen);

#endif
