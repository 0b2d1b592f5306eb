/* SPDX-License-Identifier: MIT */
/* UTF-8 checks (utf8.h). */
#include "utf8.h"

#include <string.h>

static bool utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return utf8_cont(s[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (!utf8_cont(s[1]) || !utf8_cont(s[2]))
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (!utf8_cont(s[1]) || !utf8_cont(s[2]) || !utf8_cont(s[3]))
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

bool utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = utf8_seq_len(s);

		if (n == 0)
			return false;
		s += n;
	}
	return true;
}

bool utf8_has_c0(const char *str)
{
	for (const unsigned char *s = (const unsigned char *)str; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool utf8_has_c1(const char *str)
{
	for (const unsigned char *s = (const unsigned char *)str; *s; s++)
		if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
			return true;
	return false;
}

size_t utf8_bidi_len(const unsigned char *s)
{
	if (s[0] != 0xe2)
		return 0;
	if (s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae)
		return 3;
	if (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
		return 3;
	return 0;
}

bool utf8_has_bidi(const char *str)
{
	for (const unsigned char *s = (const unsigned char *)str; *s; s++)
		if (utf8_bidi_len(s))
			return true;
	return false;
}

size_t utf8_cut_len(const char *s, size_t max)
{
	size_t len = strnlen(s, max);

	if (len < max || s[len] == '\0')
		return len;
	while (len > 0 && utf8_cont((unsigned char)s[len]))
		len--;
	return len;
}

void utf8_text_clean(const char *in, size_t n, char *out, size_t len)
{
	size_t o = 0, i = 0;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r'))
		n--;
	while (i < n && (in[i] == ' ' || in[i] == '\t'))
		i++;
	while (i < n && o + 1 < len) {
		const unsigned char *p = (const unsigned char *)in + i;
		size_t k = p[0] ? utf8_seq_len(p) : 0;
		bool c1 = k == 2 && p[0] == 0xC2 && p[1] < 0xA0;

		if (k == 0 || i + k > n || c1 || (k == 3 && utf8_bidi_len(p)) || p[0] < 0x20 ||
		    p[0] == 0x7F) {
			out[o++] = '?';
			i += k && i + k <= n ? k : 1;
			continue;
		}
		if (o + k + 1 > len)
			break;
		memcpy(out + o, p, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
}
