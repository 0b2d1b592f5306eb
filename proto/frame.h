/* SPDX-License-Identifier: MIT */
/* Framing of Hare's protocol: a 4-byte big-endian length, then the packed
 * envelope (hare.proto). A reader accumulates stream bytes and yields whole
 * frames; the length is checked against the cap before any allocation. */
#ifndef HARE_FRAME_H
#define HARE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hare.pb-c.h"

#define WIRE_FRAME_MAX_DEFAULT (4u * 1024 * 1024)
#define WIRE_HEADER_LEN 4

struct wire_reader {
	uint8_t *buf;
	size_t len;		/* bytes buffered */
	size_t cap;
	size_t off;		/* start of the unread data */
	uint32_t max_frame;	/* cap on one frame's payload */
};

/* max_frame 0 means WIRE_FRAME_MAX_DEFAULT. */
void wire_reader_init(struct wire_reader *r, uint32_t max_frame);
void wire_reader_destroy(struct wire_reader *r);

/* Append n stream bytes. Returns 0, -ENOMEM, or ERR_FRAME_TOO_BIG as soon
 * as a buffered header announces a payload over max_frame (nothing of that
 * payload is buffered; the connection should be closed). */
int wire_reader_feed(struct wire_reader *r, const void *data, size_t n);

/* Next complete frame: returns 1 with *payload and *len pointing into the
 * reader (valid until the next feed or next call), 0 when no whole frame is
 * buffered, ERR_FRAME_TOO_BIG. */
int wire_reader_next(struct wire_reader *r, const uint8_t **payload, size_t *len);

/* Encode an envelope as one heap buffer (header + payload) the caller frees
 * with free(); -ENOMEM, ERR_FRAME_TOO_BIG if over max_frame (0: default). */
int wire_encode_to_daemon(const Hare__ToDaemon *m, uint32_t max_frame, uint8_t **out, size_t *len);
int wire_encode_from_daemon(const Hare__FromDaemon *m, uint32_t max_frame, uint8_t **out, size_t *len);

/* Decode a payload. ERR_PROTO if it does not unpack, or no oneof member is
 * set. The caller frees *out with hare__to_daemon__free_unpacked(*out, NULL)
 * (resp. hare__from_daemon__free_unpacked). */
int wire_decode_to_daemon(const uint8_t *p, size_t len, Hare__ToDaemon **out);
int wire_decode_from_daemon(const uint8_t *p, size_t len, Hare__FromDaemon **out);

/* Whether the n bytes at p begin with one whole frame holding hared's
 * Error (what hared says in the clear to a peer it turns away before
 * reading it: a TLS client that gets it talks to a hared older than TLS,
 * or one too busy to wait for it); its message into msg (cleaned of
 * control characters). */
bool wire_peek_error(const uint8_t *p, size_t n, char *msg, size_t msglen);

#endif
