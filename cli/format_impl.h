/* SPDX-License-Identifier: MIT */
/* What the files of harectl's output share: format.c (JSON, the small
 * formatters, the table), format_cluster.c (queue, nodes, show, wait) and
 * format_history.c (history, usage). */
#ifndef HARE_CLI_FORMAT_IMPL_H
#define HARE_CLI_FORMAT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "format.h"

#define CLI_CELL 128
#define CLI_COLS 16

/* A table made one row at a time, twice (cli_table_print): the first pass
 * measures the columns, the second prints; only one row is held, so a
 * reply of many jobs needs no more memory than the reply itself. */
struct cli_table {
	uint32_t ncols;
	char cells[CLI_COLS][CLI_CELL];	/* the row being made */
	size_t width[CLI_COLS];
};

/* Fill row r's cells with cli_table_set. */
typedef void (*cli_row_fn)(struct cli_table *t, size_t r, const void *user);

/* s, or "" for NULL. Inline: a call instead would keep GCC from inlining
 * cli_count_join into cli_node_gpus_count, and it would warn of names there. */
static inline const char *cli_str(const char *s)
{
	return s ? s : "";
}

/* format.c */
/* Shortest of %.15g / %.17g that reads back as v; non-finite as null. */
void cli_json_double(FILE *f, double v);
/* ,"key": */
void cli_json_key(FILE *f, const char *key);
/* {"V100": GPU-seconds, ...} */
void cli_json_gpu_times(FILE *f, Hare__GpuTime *const *t, size_t n);
/* Local time of t, false where t is not a time_t at all (converting such a
 * double is undefined) or has no calendar date. */
bool cli_localtime(double t, struct tm *tm);
/* GPU-hours: two decimals (36 GPU-seconds each). */
void cli_hours_format(double gpu_s, char *buf, size_t len);
/* Set a cell of the row being made; control characters become '?' so a
 * name cannot break the table, and a cut one ends with "..." (-o json has
 * it whole). */
__attribute__((format(printf, 3, 4)))
void cli_table_set(struct cli_table *t, uint32_t col, const char *fmt, ...);
/* The header, then rows 0..nrows-1 made by fn, columns as wide as their
 * widest cell. */
void cli_table_print(FILE *f, uint32_t ncols, const char *const *headers, size_t nrows,
		     cli_row_fn fn, const void *user);

#endif
