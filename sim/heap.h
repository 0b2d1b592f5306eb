/* SPDX-License-Identifier: MIT */
/* The simulator's event queue: a binary min-heap of timed events, ordered by
 * (time, kind, job, generation) so equal times pop in a fixed order. */
#ifndef HARE_SIM_HEAP_H
#define HARE_SIM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sim_event_kind {
	SIM_EV_ARRIVAL = 0,	/* job arrives */
	SIM_EV_FINISH = 1,	/* job's lease would complete its last round */
	SIM_EV_REPLAN = 2,	/* the policy asked to be called again */
	SIM_EV_FAIL = 3,	/* job's lease fails (the failure model, engine.h) */
};

struct sim_event {
	double t;
	uint32_t kind;
	uint32_t job;		/* job id (arrival, finish, fail) */
	uint64_t gen;		/* lease or replan generation; stale events are skipped */
};

struct sim_heap {
	struct sim_event *ev;
	size_t n;
	size_t cap;
};

void sim_heap_init(struct sim_heap *h);
void sim_heap_destroy(struct sim_heap *h);

/* Add an event; 0 or -ENOMEM. */
int sim_heap_push(struct sim_heap *h, const struct sim_event *e);

/* Remove the earliest event into *out; false when the heap is empty. */
bool sim_heap_pop(struct sim_heap *h, struct sim_event *out);

/* The earliest event without removing it, or NULL when empty. */
const struct sim_event *sim_heap_peek(const struct sim_heap *h);

/* Drop every event for which keep(event, arg) is false and restore the heap
 * order, in O(n). */
void sim_heap_filter(struct sim_heap *h, bool (*keep)(const struct sim_event *e, void *arg),
		     void *arg);

#endif
