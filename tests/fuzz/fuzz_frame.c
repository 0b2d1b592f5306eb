/* SPDX-License-Identifier: MIT */
/* Fuzz target for the frame codec: the input is a byte stream fed through a
 * reader in uneven chunks; every frame is decoded as both envelopes, and what
 * decodes must encode and decode again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the codec promised does not hold: make the fuzzer report it. */
static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

static void fuzz_to_daemon(const uint8_t *p, size_t n)
{
	Hare__ToDaemon *m = NULL, *again = NULL;
	uint8_t *buf = NULL;
	size_t len;

	if (wire_decode_to_daemon(p, n, &m) < 0) {
		fuzz_check(m == NULL);
		return;
	}
	fuzz_check(m->msg_case != HARE__TO_DAEMON__MSG__NOT_SET);
	fuzz_check(wire_encode_to_daemon(m, 0, &buf, &len) == 0);
	fuzz_check(wire_decode_to_daemon(buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN, &again) == 0);
	fuzz_check(again->msg_case == m->msg_case);
	hare__to_daemon__free_unpacked(again, NULL);
	hare__to_daemon__free_unpacked(m, NULL);
	free(buf);
}

static void fuzz_from_daemon(const uint8_t *p, size_t n)
{
	Hare__FromDaemon *m = NULL, *again = NULL;
	uint8_t *buf = NULL;
	size_t len;

	if (wire_decode_from_daemon(p, n, &m) < 0) {
		fuzz_check(m == NULL);
		return;
	}
	fuzz_check(m->msg_case != HARE__FROM_DAEMON__MSG__NOT_SET);
	fuzz_check(wire_encode_from_daemon(m, 0, &buf, &len) == 0);
	fuzz_check(wire_decode_from_daemon(buf + WIRE_HEADER_LEN, len - WIRE_HEADER_LEN, &again) == 0);
	fuzz_check(again->msg_case == m->msg_case);
	hare__from_daemon__free_unpacked(again, NULL);
	hare__from_daemon__free_unpacked(m, NULL);
	free(buf);
}

/* Feed the stream in chunks of 1..64 bytes (sizes from a generator seeded by
 * the input size, so a corpus file is a plain stream) and decode each frame. */
static void fuzz_stream(const uint8_t *data, size_t size, uint32_t max_frame, int decode)
{
	struct wire_reader r;
	uint32_t seed = (uint32_t)size * 2654435761u + max_frame;
	size_t pos = 0;

	wire_reader_init(&r, max_frame);
	while (pos < size) {
		size_t chunk = 1 + (seed >> 16) % 64;
		const uint8_t *p;
		size_t n;
		int rc, got;

		seed = seed * 1103515245u + 12345u;
		if (chunk > size - pos)
			chunk = size - pos;
		rc = wire_reader_feed(&r, data + pos, chunk);
		pos += chunk;
		while ((got = wire_reader_next(&r, &p, &n)) == 1) {
			fuzz_check(n <= r.max_frame);
			if (decode) {
				fuzz_to_daemon(p, n);
				fuzz_from_daemon(p, n);
			}
		}
		if (rc < 0 || got < 0) {
			/* A refused header is never followed by its payload. */
			fuzz_check(rc == ERR_FRAME_TOO_BIG || rc == -ENOMEM);
			fuzz_check(rc == -ENOMEM || r.len - r.off <= WIRE_HEADER_LEN);
			break;
		}
	}
	wire_reader_destroy(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream(data, size, 0, 1);
	fuzz_stream(data, size, 64, 0);
	return 0;
}
