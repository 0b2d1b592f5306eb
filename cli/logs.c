/* SPDX-License-Identifier: MIT */
/* harectl logs: print the parts of a LogsReply oldest first (a header per
 * part when there are several, as tail(1) does), the last --lines lines of
 * them, with control characters masked so a job's output cannot drive the
 * terminal; what could not be read is said on stderr. */
#include "cli.h"
#include "format.h"

#include <stdlib.h>
#include <string.h>

/* Write data with C0 controls but tab and newline as '?' (a lone carriage
 * return, a progress bar's, as a newline), DEL and UTF-8 C1 controls too. */
static void cli_logs_write(FILE *out, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == '\r')
			c = i + 1 < n && s[i + 1] == '\n' ? 0 : '\n';
		else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			c = '?';
		else if (c == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			fputs("??", out);
			i++;
			continue;
		}
		if (c)
			fputc(c, out);
	}
}

/* Where the last `lines` lines of the parts begin: part *first, byte *off.
 * Lines end at a newline, a lone carriage return (as cli_logs_write shows
 * it) or a part's end; a part's final line end closes its last line. */
static void cli_logs_from(const Hare__LogsReply *r, uint32_t lines, size_t *first, size_t *off)
{
	uint32_t seen = 0;

	*first = 0;
	*off = 0;
	if (lines == 0)
		return;
	for (size_t k = r->n_parts; k-- > 0;) {
		const uint8_t *d = r->parts[k]->data.data;
		size_t i = r->parts[k]->data.len;

		/* the end of part k is the end of a line of the next part's text */
		if (k + 1 < r->n_parts && ++seen == lines) {
			*first = k + 1;
			return;
		}
		if (i > 0 && d[i - 1] == '\n')
			i--;
		if (i > 0 && d[i - 1] == '\r')
			i--;
		while (i-- > 0) {
			bool end = d[i] == '\n' || (d[i] == '\r' && (i + 1 >= r->parts[k]->data.len ||
								 d[i + 1] != '\n'));

			if (end && ++seen == lines) {
				*first = k;
				*off = i + 1;
				return;
			}
		}
	}
}

/* The file p names among those printed, or a new entry for it (the
 * oldest entry is reused when the list is full); *fresh says it is new. */
static struct cli_logs_seen *cli_logs_seen_of(struct cli_logs_follow *f, const Hare__LogPart *p,
					      bool *fresh)
{
	struct cli_logs_seen *s;

	*fresh = false;
	for (uint32_t i = 0; i < f->n; i++) {
		if (strcmp(f->seen[i].node, p->node) == 0 && strcmp(f->seen[i].path, p->path) == 0)
			return &f->seen[i];
	}
	*fresh = true;
	if (f->n < CLI_FOLLOW_FILES) {
		s = &f->seen[f->n++];
	} else {
		memmove(&f->seen[0], &f->seen[1], (CLI_FOLLOW_FILES - 1) * sizeof(f->seen[0]));
		s = &f->seen[CLI_FOLLOW_FILES - 1];
		if (f->current >= 0)
			f->current--;
	}
	snprintf(s->node, sizeof(s->node), "%s", p->node);
	snprintf(s->path, sizeof(s->path), "%s", p->path);
	s->size = 0;
	return s;
}

void cli_logs_follow_init(struct cli_logs_follow *f, const Hare__LogsReply *r)
{
	memset(f, 0, sizeof(*f));
	f->current = -1;
	for (size_t i = 0; i < r->n_parts; i++) {
		bool fresh;
		struct cli_logs_seen *s = cli_logs_seen_of(f, r->parts[i], &fresh);

		s->size = r->parts[i]->size;	/* printed up to here (or left out) */
		f->current = (int32_t)(s - f->seen);
		f->printed = true;
	}
}

static void cli_logs_header(FILE *out, const Hare__LogPart *p)
{
	char node[128], path[512];

	fprintf(out, "==> node %s: %s <==\n", cli_text_clean(p->node, node, sizeof(node)),
		cli_text_clean(p->path, path, sizeof(path)));
}

void cli_logs_follow_print(struct cli_logs_follow *f, const Hare__LogsReply *r, FILE *out,
			   FILE *err)
{
	for (size_t i = 0; i < r->n_parts; i++) {
		const Hare__LogPart *p = r->parts[i];
		bool fresh;
		struct cli_logs_seen *s = cli_logs_seen_of(f, p, &fresh);
		uint64_t add;
		size_t show;

		if (p->size < s->size) {
			fprintf(err, "harectl: the output file on node %s was cut short; from its "
				"end again\n", s->node);
			s->size = p->size > p->data.len ? p->size - p->data.len : 0;
		}
		add = p->size - s->size;
		if (add == 0)
			continue;
		show = add < p->data.len ? (size_t)add : p->data.len;
		if (f->current != (int32_t)(s - f->seen)) {
			if (f->printed)
				fputc('\n', out);
			cli_logs_header(out, p);
		}
		if (add > show && fresh)
			fprintf(err, "harectl: older output of node %s's file not shown\n", s->node);
		else if (add > show)
			fprintf(err, "harectl: %llu bytes of output on node %s not shown (more than "
				"--bytes came within a poll)\n", (unsigned long long)(add - show),
				s->node);
		if (show)
			cli_logs_write(out, p->data.data + (p->data.len - show), show);
		s->size = p->size;
		f->current = (int32_t)(s - f->seen);
		f->printed = true;
	}
	fflush(out);
}

bool cli_logs_lease_ended(const Hare__LogsReply *r, uint32_t rank)
{
	const Hare__LogPart *p;
	const uint8_t *d;
	size_t e, b;
	char tail[512], want[3][48];

	if (r->n_parts == 0)
		return false;
	p = r->parts[r->n_parts - 1];
	d = p->data.data;
	e = p->data.len;
	while (e > 0 && (d[e - 1] == '\n' || d[e - 1] == '\r'))
		e--;
	b = e;
	while (b > 0 && d[b - 1] != '\n')
		b--;
	if (e - b < 11 || e - b >= sizeof(tail) || memcmp(d + b, "hare-agent ", 11) != 0)
		return false;
	memcpy(tail, d + b, e - b);
	tail[e - b] = '\0';
	snprintf(want[0], sizeof(want[0]), " rank %u done: ", rank);
	snprintf(want[1], sizeof(want[1]), " rank %u stopped", rank);
	snprintf(want[2], sizeof(want[2]), " rank %u failed: ", rank);
	return strstr(tail, want[0]) || strstr(tail, want[1]) || strstr(tail, want[2]);
}

int cli_logs_print(const struct cli_args *a, const Hare__LogsReply *r, FILE *out, FILE *err)
{
	size_t first, off;
	bool older = r->has_cut_bytes && r->cut_bytes > 0;
	char why[512];

	cli_logs_from(r, a->lines, &first, &off);
	for (size_t k = first; k < r->n_parts; k++) {
		const Hare__LogPart *p = r->parts[k];
		size_t from = k == first ? off : 0;

		if (p->size > p->data.len || from > 0)
			older = true;
		if (r->n_parts - first > 1 && k > first)
			fputc('\n', out);
		if (r->n_parts - first > 1)
			cli_logs_header(out, p);
		if (p->data.len > from)
			cli_logs_write(out, p->data.data + from, p->data.len - from);
		if (p->data.len > from && p->data.data[p->data.len - 1] != '\n' && k + 1 < r->n_parts)
			fputc('\n', out);
	}
	if (first > 0)
		older = true;
	for (size_t i = 0; i < r->n_missing; i++)
		fprintf(err, "harectl: not read: %s\n", cli_text_clean(r->missing[i], why, sizeof(why)));
	if (r->n_parts == 0 && a->follow) {
		fprintf(err, "harectl: no output of job %llu rank %u on the nodes up yet; waiting "
			"(Ctrl-C stops)\n", (unsigned long long)r->job_id, r->rank);
		return CLI_EXIT_OK;
	}
	if (r->n_parts == 0) {
		fprintf(err, "harectl: no output of job %llu rank %u on the nodes up (it has not run "
			"there yet, or ran only on nodes that are down)\n",
			(unsigned long long)r->job_id, r->rank);
		return CLI_EXIT_FAIL;
	}
	if (older && a->lines == 0)
		fprintf(err, "harectl: older output not shown (--bytes N, up to %d, shows more)\n",
			CLI_LOG_BYTES_MAX);
	return CLI_EXIT_OK;
}
