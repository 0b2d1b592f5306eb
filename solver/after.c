/* SPDX-License-Identifier: MIT */
/* Weights to plan with when jobs wait for others (hared's submit --after,
 * hare-sim's pipelines): shared by the daemon and the simulator. */
#include "sched.h"

void sched_after_weights(uint32_t n, double *w, const uint32_t *wait_from, const uint32_t *wait_idx)
{
	/* a job waits only for smaller indices: each job's total is complete
	 * before it is shared out */
	for (uint32_t i = n; i-- > 0;) {
		uint32_t from = wait_from[i], to = wait_from[i + 1];

		for (uint32_t k = from; k < to; k++)
			if (wait_idx[k] < i)
				w[wait_idx[k]] += w[i] / (double)(to - from);
	}
}
