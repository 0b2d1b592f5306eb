/* SPDX-License-Identifier: MIT */
/* UTF-8 checks shared by hared (job specs, agents' texts), harectl (tables,
 * JSON) and hare-agent (its programs' output). */
#ifndef HARE_COMMON_UTF8_H
#define HARE_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence that starts at s (at a byte other than
 * NUL): 1 for ASCII, 2..4 for a valid sequence (no overlong forms, no
 * surrogates, nothing past U+10FFFF), 0 for an invalid one. Stops at the
 * first non-continuation byte, so it never reads past a NUL. */
size_t utf8_seq_len(const unsigned char *s);

/* The NUL-terminated s is valid UTF-8. */
bool utf8_valid(const char *s);

/* s holds a C0 control character (a byte below 0x20: a newline, a tab
 * ...) or DEL. */
bool utf8_has_c0(const char *s);

/* s holds a C1 control character (U+0080..U+009F; U+009B is a terminal's
 * CSI), as UTF-8. */
bool utf8_has_c1(const char *s);

/* 3 if s starts with a bidirectional formatting character as UTF-8 (the
 * embeddings and overrides U+202A..U+202E, the isolates U+2066..U+2069:
 * they make a text display as another, "Trojan Source"), else 0. */
size_t utf8_bidi_len(const unsigned char *s);

/* s holds such a character. */
bool utf8_has_bidi(const char *s);

/* The most bytes of the UTF-8 text s, at most max (and at most its
 * length), that end where a character starts: s cut there keeps whole
 * characters. */
size_t utf8_cut_len(const char *s, size_t max);

/* One line of text fit for a log and a table: in[0..n) as valid UTF-8
 * without control, C1 or bidirectional formatting characters (each
 * replaced by '?'), blanks at either end dropped, whole characters only,
 * at most len - 1 bytes into out. in[n] must be readable (a NUL or a
 * newline). */
void utf8_text_clean(const char *in, size_t n, char *out, size_t len);

#endif
