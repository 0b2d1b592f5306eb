/* SPDX-License-Identifier: MIT */
/* Small text helpers (text.h). */
#include "text.h"

#include <ctype.h>
#include <string.h>

size_t text_distance(const char *s, const char *t)
{
	size_t ls = strlen(s), lt = strlen(t), prev[33], cur[33];

	if (ls > 32 || lt > 32)
		return 99;
	for (size_t j = 0; j <= lt; j++)
		prev[j] = j;
	for (size_t i = 1; i <= ls; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lt; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)s[i - 1]) !=
						    tolower((unsigned char)t[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(cur));
	}
	return prev[lt];
}
