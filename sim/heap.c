/* SPDX-License-Identifier: MIT */
/* Binary min-heap of simulator events (array-backed, grows by doubling). */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>

static bool heap_less(const struct sim_event *a, const struct sim_event *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if (a->kind != b->kind)
		return a->kind < b->kind;
	if (a->job != b->job)
		return a->job < b->job;
	return a->gen < b->gen;
}

void sim_heap_init(struct sim_heap *h)
{
	h->ev = NULL;
	h->n = 0;
	h->cap = 0;
}

void sim_heap_destroy(struct sim_heap *h)
{
	free(h->ev);
	sim_heap_init(h);
}

int sim_heap_push(struct sim_heap *h, const struct sim_event *e)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct sim_event *ev = realloc(h->ev, cap * sizeof(*ev));

		if (!ev)
			return -ENOMEM;
		h->ev = ev;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && heap_less(e, &h->ev[(i - 1) / 2])) {
		h->ev[i] = h->ev[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->ev[i] = *e;
	return 0;
}

/* Put `last` at hole i and move it down to its place. */
static void heap_sift_down(struct sim_heap *h, size_t i, struct sim_event last)
{
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_less(&h->ev[c + 1], &h->ev[c]))
			c++;
		if (!heap_less(&h->ev[c], &last))
			break;
		h->ev[i] = h->ev[c];
		i = c;
	}
	h->ev[i] = last;
}

bool sim_heap_pop(struct sim_heap *h, struct sim_event *out)
{
	if (h->n == 0)
		return false;
	*out = h->ev[0];
	if (--h->n > 0)
		heap_sift_down(h, 0, h->ev[h->n]);
	return true;
}

void sim_heap_filter(struct sim_heap *h, bool (*keep)(const struct sim_event *e, void *arg),
		     void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < h->n; i++)
		if (keep(&h->ev[i], arg))
			h->ev[k++] = h->ev[i];
	h->n = k;
	/* Floyd: sift down every parent, last first. */
	for (size_t i = k / 2; i-- > 0;)
		heap_sift_down(h, i, h->ev[i]);
}

const struct sim_event *sim_heap_peek(const struct sim_heap *h)
{
	return h->n ? &h->ev[0] : NULL;
}
