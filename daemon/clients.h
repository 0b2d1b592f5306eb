/* SPDX-License-Identifier: MIT */
/* Client requests: submit (validate against the profile, commit, then
 * reply with the id), queue, show, cancel and nodes, answered from the
 * driver's state and the store. */
#ifndef HARE_DAEMON_CLIENTS_H
#define HARE_DAEMON_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hare.pb-c.h"
#include "store.h"

struct conn;
struct hared;
struct profile;

#define CLIENTS_MAX_ROUNDS 1000000000000ull
#define CLIENTS_MAX_WEIGHT 1e6
#define CLIENTS_HISTORY_DEFAULT 100	/* events of harectl history */
#define CLIENTS_HISTORY_MAX 1000
#define CLIENTS_QUEUE_FINALS_MAX 20000	/* newest finished jobs harectl queue --all reads */

/* Validate a job spec for user and turn it into a QUEUED store record
 * (submit_time now, defaults applied). 0, or ERR_BAD_SPEC,
 * ERR_UNKNOWN_MODEL, ERR_UNKNOWN_GPU, ERR_NO_CAPACITY with a one-line
 * reason in errbuf ("gpus must be between 1 and 64, got 0"). */
int clients_spec_check(const struct profile *prof, const Hare__JobSpec *spec, const char *user,
		       struct store_job *out, char *errbuf, size_t errlen);

/* Request handlers (loop thread); replies go to c. A bad request gets an
 * Error and the connection stays open. */
void clients_submit(struct conn *c, const Hare__Submit *m);
void clients_queue(struct conn *c, const Hare__QueueRequest *m);
/* Whether job id is kept from c's user: private_data lists jobs, the user
 * is not root, and the job is another's, or no one's (so that an id
 * answers alike whether it exists or not). Its refusal: "no job N of
 * yours" (-ENOENT). */
bool clients_job_hidden(struct conn *c, uint64_t id);

void clients_show(struct conn *c, const Hare__ShowRequest *m);
void clients_cancel(struct conn *c, const Hare__CancelRequest *m);
void clients_nodes(struct conn *c);
/* harectl update, hold and release: each job answered on its own; the
 * changes are committed before the reply. */
void clients_update(struct conn *c, const Hare__UpdateRequest *m);
/* harectl history: a job's events from the store (owner or root). */
void clients_history(struct conn *c, const Hare__HistoryRequest *m);
/* Drain or undrain a node: root on the local socket only. */
void clients_drain(struct conn *c, const Hare__DrainRequest *m);
/* Forget a node gone for good: root on the local socket only. */
void clients_forget(struct conn *c, const Hare__ForgetRequest *m);

/* Send a reply; one too large for a frame becomes an Error saying what
 * (the "usage", the "history") did not fit. */
void clients_reply(struct conn *c, const Hare__FromDaemon *m, const char *what);
/* Bytes a length-delimited field of size bytes takes in a reply (a one-byte
 * tag, the length as a varint, the bytes): what leaving it out saves. */
size_t clients_field_size(size_t size);

/* Commit the submissions received in this loop iteration and reply to
 * each (called once per iteration, after I/O). */
void clients_commit(struct hared *d);

/* Allocate the list of pending submissions; 0 or -ENOMEM. */
int clients_pending_init(struct hared *d);

/* Free the pending submissions (shutdown; they were never acknowledged). */
void clients_pending_free(struct hared *d);

#endif
