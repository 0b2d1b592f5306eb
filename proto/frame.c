/* SPDX-License-Identifier: MIT */
/* Frame codec of Hare's protocol (frame.h): a stream reader that checks each
 * announced length before buffering its payload, and envelope encode/decode
 * over protobuf-c with the checks the generated code does not make. */
#include "frame.h"

#include "err.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this the buffer is kept when it empties; above it is given back so a
 * one-off large frame does not pin memory for the life of a connection. */
#define WIRE_KEEP_CAP (256u * 1024)
#define WIRE_MIN_CAP 4096u
/* Nesting bound for the string scan; hare.proto nests four deep. */
#define WIRE_MAX_DEPTH 16

void wire_reader_init(struct wire_reader *r, uint32_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame ? max_frame : WIRE_FRAME_MAX_DEFAULT;
}

void wire_reader_destroy(struct wire_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static uint32_t wire_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Byte i of the unread data followed by the n new bytes, without copying. */
static uint8_t wire_byte_at(const struct wire_reader *r, const uint8_t *data, size_t i)
{
	size_t unread = r->len - r->off;

	return i < unread ? r->buf[r->off + i] : data[i - unread];
}

/*
 * Walk the frame headers of the unread data plus the new bytes. Returns 0
 * with *take = n when every complete header is within the cap; otherwise
 * ERR_FRAME_TOO_BIG with *take = how many new bytes end with the offending
 * header, so none of its payload gets buffered.
 */
static int wire_headers_check(const struct wire_reader *r, const uint8_t *data, size_t n, size_t *take)
{
	size_t unread = r->len - r->off;
	size_t total = unread + n;
	size_t pos = 0;

	while (total - pos >= WIRE_HEADER_LEN) {
		uint8_t h[WIRE_HEADER_LEN];
		uint32_t plen;

		for (size_t i = 0; i < WIRE_HEADER_LEN; i++)
			h[i] = wire_byte_at(r, data, pos + i);
		plen = wire_be32(h);
		if (plen > r->max_frame) {
			size_t end = pos + WIRE_HEADER_LEN;

			*take = end > unread ? end - unread : 0;
			return ERR_FRAME_TOO_BIG;
		}
		if (total - pos - WIRE_HEADER_LEN < plen)
			break;
		pos += WIRE_HEADER_LEN + (size_t)plen;
	}
	*take = n;
	return 0;
}

/* Move the unread data to the front (payload pointers handed out earlier
 * are invalid from here on, as frame.h allows) and drop a large idle buffer. */
static void wire_reader_compact(struct wire_reader *r)
{
	size_t unread = r->len - r->off;

	if (unread == 0 && r->cap > WIRE_KEEP_CAP) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	} else if (r->off > 0 && unread > 0) {
		memmove(r->buf, r->buf + r->off, unread);
	}
	r->len = unread;
	r->off = 0;
}

static int wire_reader_reserve(struct wire_reader *r, size_t extra)
{
	size_t need = r->len + extra;
	size_t cap = r->cap ? r->cap : WIRE_MIN_CAP;
	uint8_t *buf;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf = realloc(r->buf, cap);
	if (!buf)
		return -ENOMEM;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

int wire_reader_feed(struct wire_reader *r, const void *data, size_t n)
{
	size_t take;
	int rc, check;

	wire_reader_compact(r);
	if (n == 0)
		return 0;
	check = wire_headers_check(r, data, n, &take);
	if (take > 0) {
		rc = wire_reader_reserve(r, take);
		if (rc < 0)
			return rc;
		memcpy(r->buf + r->len, data, take);
		r->len += take;
	}
	return check;
}

int wire_reader_next(struct wire_reader *r, const uint8_t **payload, size_t *len)
{
	size_t unread = r->len - r->off;
	uint32_t plen;

	if (unread < WIRE_HEADER_LEN)
		return 0;
	plen = wire_be32(r->buf + r->off);
	if (plen > r->max_frame)
		return ERR_FRAME_TOO_BIG;
	if (unread - WIRE_HEADER_LEN < plen)
		return 0;
	*payload = r->buf + r->off + WIRE_HEADER_LEN;
	*len = plen;
	r->off += WIRE_HEADER_LEN + (size_t)plen;
	return 1;
}

/*
 * Pack one envelope behind its header. An envelope with no oneof member, or
 * one missing a required field (protobuf-c would pack a NULL string as empty
 * and crash on a NULL message), is refused with ERR_PROTO: the peer could not
 * decode it anyway.
 */
static int wire_encode(const ProtobufCMessage *m, bool set, uint32_t max_frame, uint8_t **out, size_t *len)
{
	uint32_t cap = max_frame ? max_frame : WIRE_FRAME_MAX_DEFAULT;
	size_t plen;
	uint8_t *buf;

	if (!set || !protobuf_c_message_check(m))
		return ERR_PROTO;
	plen = protobuf_c_message_get_packed_size(m);
	if (plen > cap)
		return ERR_FRAME_TOO_BIG;
	buf = malloc(WIRE_HEADER_LEN + plen);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(plen >> 24);
	buf[1] = (uint8_t)(plen >> 16);
	buf[2] = (uint8_t)(plen >> 8);
	buf[3] = (uint8_t)plen;
	protobuf_c_message_pack(m, buf + WIRE_HEADER_LEN);
	*out = buf;
	*len = WIRE_HEADER_LEN + plen;
	return 0;
}

int wire_encode_to_daemon(const Hare__ToDaemon *m, uint32_t max_frame, uint8_t **out, size_t *len)
{
	return wire_encode(&m->base, m->msg_case != HARE__TO_DAEMON__MSG__NOT_SET, max_frame, out, len);
}

int wire_encode_from_daemon(const Hare__FromDaemon *m, uint32_t max_frame, uint8_t **out, size_t *len)
{
	return wire_encode(&m->base, m->msg_case != HARE__FROM_DAEMON__MSG__NOT_SET, max_frame, out, len);
}

/* Read a base-128 varint; false when it runs past end or over 10 bytes
 * (shifts 0, 7, ..., 63). */
static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

static bool wire_skip(const uint8_t **p, const uint8_t *end, size_t n)
{
	if ((size_t)(end - *p) < n)
		return false;
	*p += n;
	return true;
}

/*
 * Walk a payload that protobuf-c already accepted and look inside every
 * string field, nested messages included: an embedded NUL would silently
 * truncate the C string protobuf-c hands out (a name "a\0b" read as "a"),
 * so such a payload is malformed. Returns false on a NUL.
 */
static bool wire_strings_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
			    int depth)
{
	uint64_t key, v;

	if (depth > WIRE_MAX_DEPTH)
		return false;
	while (p < end) {
		const ProtobufCFieldDescriptor *f;

		/* field number 0 is invalid; protobuf-c takes it (as an unknown
		 * field) when the key is an overlong varint, then packs it as a
		 * one-byte key that it refuses to unpack */
		if (!wire_varint(&p, end, &key) || key >> 3 == 0)
			return false;
		f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3 & 0x1fffffff));
		switch (key & 7) {
		case 0:
			if (!wire_varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (!wire_skip(&p, end, 8))
				return false;
			break;
		case 5:
			if (!wire_skip(&p, end, 4))
				return false;
			break;
		case 2:
			if (!wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
				return false;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !wire_strings_ok(f->descriptor, p, p + v, depth + 1))
				return false;
			p += v;
			break;
		default:
			return false;
		}
	}
	return true;
}

static int wire_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, ProtobufCMessage **out)
{
	static const uint8_t empty;
	ProtobufCMessage *m;

	/* protobuf-c wants a valid pointer even for an empty payload. */
	m = protobuf_c_message_unpack(d, NULL, len, len ? p : &empty);
	if (!m)
		return ERR_PROTO;
	if (len && !wire_strings_ok(d, p, p + len, 0)) {
		protobuf_c_message_free_unpacked(m, NULL);
		return ERR_PROTO;
	}
	*out = m;
	return 0;
}

int wire_decode_to_daemon(const uint8_t *p, size_t len, Hare__ToDaemon **out)
{
	ProtobufCMessage *m;
	int rc = wire_decode(&hare__to_daemon__descriptor, p, len, &m);

	if (rc < 0)
		return rc;
	if (((Hare__ToDaemon *)m)->msg_case == HARE__TO_DAEMON__MSG__NOT_SET) {
		protobuf_c_message_free_unpacked(m, NULL);
		return ERR_PROTO;
	}
	*out = (Hare__ToDaemon *)m;
	return 0;
}

int wire_decode_from_daemon(const uint8_t *p, size_t len, Hare__FromDaemon **out)
{
	ProtobufCMessage *m;
	int rc = wire_decode(&hare__from_daemon__descriptor, p, len, &m);

	if (rc < 0)
		return rc;
	if (((Hare__FromDaemon *)m)->msg_case == HARE__FROM_DAEMON__MSG__NOT_SET) {
		protobuf_c_message_free_unpacked(m, NULL);
		return ERR_PROTO;
	}
	*out = (Hare__FromDaemon *)m;
	return 0;
}

bool wire_peek_error(const uint8_t *p, size_t n, char *msg, size_t msglen)
{
	Hare__FromDaemon *m = NULL;
	uint32_t plen;
	bool ok;

	if (n < WIRE_HEADER_LEN || msglen == 0)
		return false;
	plen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (plen > n - WIRE_HEADER_LEN || wire_decode_from_daemon(p + WIRE_HEADER_LEN, plen, &m) < 0)
		return false;
	ok = m->msg_case == HARE__FROM_DAEMON__MSG_ERROR && m->error->message;
	if (ok) {
		snprintf(msg, msglen, "%s", m->error->message);
		/* a stranger's text, printed and logged: ASCII only (hared's
		 * refusals are), no control, C1 or bidirectional characters */
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
	}
	hare__from_daemon__free_unpacked(m, NULL);
	return ok;
}
