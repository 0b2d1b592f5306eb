/* SPDX-License-Identifier: MIT */
/* Per-job policy records by job id (declared in policy_impl.h), kept in a
 * uthash table; allocation failures are returned, never fatal. */
#include "policy_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int ids_oom;

#define uthash_nonfatal_oom(obj) (ids_oom = 1)
#include <uthash.h>

struct ids_rec {
	uint32_t id;
	UT_hash_handle hh;
	unsigned char data[];	/* rec_size bytes, zeroed when created */
};

struct policy_ids {
	size_t rec_size;
	struct ids_rec *head;
};

int policy_ids_new(size_t rec_size, struct policy_ids **out)
{
	struct policy_ids *m = calloc(1, sizeof(*m));

	*out = m;
	if (!m)
		return -ENOMEM;
	m->rec_size = rec_size ? rec_size : 1;
	return 0;
}

void policy_ids_free(struct policy_ids *m)
{
	struct ids_rec *r, *tmp;

	if (!m)
		return;
	HASH_ITER(hh, m->head, r, tmp) {
		HASH_DEL(m->head, r);
		free(r);
	}
	free(m);
}

void *policy_ids_get(struct policy_ids *m, uint32_t id, bool *created)
{
	struct ids_rec *r;

	*created = false;
	HASH_FIND(hh, m->head, &id, sizeof(id), r);
	if (r)
		return r->data;
	r = calloc(1, sizeof(*r) + m->rec_size);
	if (!r)
		return NULL;
	r->id = id;
	ids_oom = 0;
	HASH_ADD(hh, m->head, id, sizeof(r->id), r);
	if (ids_oom) {
		free(r);
		return NULL;
	}
	*created = true;
	return r->data;
}

void *policy_ids_find(const struct policy_ids *m, uint32_t id)
{
	struct ids_rec *r;

	HASH_FIND(hh, m->head, &id, sizeof(id), r);
	return r ? r->data : NULL;
}

void policy_ids_drop(struct policy_ids *m, uint32_t id)
{
	struct ids_rec *r;

	HASH_FIND(hh, m->head, &id, sizeof(id), r);
	if (r) {
		HASH_DEL(m->head, r);
		free(r);
	}
}
