/* SPDX-License-Identifier: MIT */
/* Small text helpers shared by the programs. */
#ifndef HARE_TEXT_H
#define HARE_TEXT_H

#include <stddef.h>

/* Edit distance (insertions, deletions, substitutions) between s and t,
 * ignoring ASCII case; 99 past 32 bytes. Close enough to suggest ("did you
 * mean") when at most 2. */
size_t text_distance(const char *s, const char *t);

#endif
