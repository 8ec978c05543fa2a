/* SPDX-License-Identifier: MIT
 *
 * Domain names in wire form: decompression with loop protection (RFC 9267),
 * case-insensitive comparison, subdomain tests and presentation conversion.
 *
 * Decompression only follows pointers that point strictly backwards, before
 * the start of the label sequence that contains them, so a pointer chain always
 * terminates; the output length bound (255) is checked on every label.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "vigil/err.h"
#include "vigil/wire.h"

static const uint8_t lower_tab[256] = {
#define L(c) (uint8_t)((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define R4(b) L(b), L(b + 1), L(b + 2), L(b + 3)
#define R16(b) R4(b), R4(b + 4), R4(b + 8), R4(b + 12)
	R16(0), R16(16), R16(32), R16(48), R16(64), R16(80), R16(96), R16(112),
	R16(128), R16(144), R16(160), R16(176), R16(192), R16(208), R16(224), R16(240),
#undef R16
#undef R4
#undef L
};

/*
 * The one walk over a (possibly compressed) name in a message: every label
 * and pointer bounds-checked, pointers strictly backwards (before the start
 * of the label sequence that holds them), at most 127 of them, the name at
 * most 255 bytes.  Copies the name into @p out when it is not NULL (lower-
 * cased when @p lower); *@p next gets the offset just past the name where it
 * starts.  Returns the uncompressed length or VG_EMALFORMED.
 */
static int name_walk(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, bool lower,
		     size_t *next)
{
	size_t o = 0;
	size_t pos = off;
	size_t limit = off; /* pointers must go below this */
	bool jumped = false;
	unsigned jumps = 0; /* a name has at most 127 labels, so at most 127 pointers */

	for (;;) {
		if (pos >= len)
			return VG_EMALFORMED;
		uint8_t l = pkt[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return VG_EMALFORMED;
			size_t ptr = (size_t)((l & 0x3f) << 8 | pkt[pos + 1]);
			if (!jumped) {
				*next = pos + 2;
				jumped = true;
			}
			if (ptr >= limit || ptr < VG_HDR_LEN || ++jumps > 127)
				return VG_EMALFORMED; /* forwards, into the header, or a chain */
			limit = ptr;
			pos = ptr;
			continue;
		}
		if (l & 0xc0)
			return VG_EMALFORMED; /* 0x40 / 0x80 label types are obsolete */
		if (o + 1 + l > VG_NAME_MAX)
			return VG_EMALFORMED;
		if (pos + 1 + l > len)
			return VG_EMALFORMED;
		if (out)
			out[o] = l;
		o++;
		if (l == 0) {
			if (!jumped)
				*next = pos + 1;
			return (int)o;
		}
		const uint8_t *s = pkt + pos + 1;
		if (out && lower) {
			for (unsigned i = 0; i < l; i++)
				out[o + i] = lower_tab[s[i]];
		} else if (out) {
			memcpy(out + o, s, l);
		}
		o += l;
		pos += 1 + (size_t)l;
	}
}

int vg_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, bool lower,
		   size_t *next)
{
	size_t nx;
	int r = name_walk(pkt, len, off, out, lower, &nx);
	if (r >= 0 && next)
		*next = nx;
	return r;
}

int vg_name_skip(const uint8_t *pkt, size_t len, size_t off)
{
	size_t nx;
	int r = name_walk(pkt, len, off, NULL, false, &nx);
	return r < 0 ? r : (int)nx;
}

int vg_name_check(const uint8_t *name, size_t max)
{
	size_t o = 0;
	for (;;) {
		if (o >= max)
			return VG_EMALFORMED;
		uint8_t l = name[o];
		if (l > 63)
			return VG_EMALFORMED;
		if (o + 1 + l > VG_NAME_MAX || o + 1 + l > max)
			return VG_EMALFORMED;
		o += 1 + (size_t)l;
		if (l == 0)
			return (int)o;
	}
}

size_t vg_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += *p + 1;
	return (size_t)(p - name) + 1;
}

int vg_name_labels(const uint8_t *name)
{
	int n = 0;
	while (*name) {
		name += *name + 1;
		n++;
	}
	return n;
}

bool vg_name_eq(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t l = *a;
		if (l == 0)
			return true;
		for (unsigned i = 1; i <= l; i++)
			if (lower_tab[a[i]] != lower_tab[b[i]])
				return false;
		a += l + 1;
		b += l + 1;
	}
}

const uint8_t *vg_name_suffix(const uint8_t *name, int labels)
{
	int n = vg_name_labels(name);
	while (n > labels && *name) {
		name += *name + 1;
		n--;
	}
	return name;
}

bool vg_name_is_sub(const uint8_t *name, const uint8_t *zone)
{
	int nl = vg_name_labels(name), zl = vg_name_labels(zone);
	if (nl < zl)
		return false;
	return vg_name_eq(vg_name_suffix(name, zl), zone);
}

void vg_name_lower(uint8_t *name)
{
	while (*name) {
		uint8_t l = *name;
		for (unsigned i = 1; i <= l; i++)
			name[i] = lower_tab[name[i]];
		name += l + 1;
	}
}

void vg_name_to_str(const uint8_t *name, char *buf, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return;
	if (*name == 0) {
		snprintf(buf, size, ".");
		return;
	}
	while (*name && o + 1 < size) {
		uint8_t l = *name++;
		for (unsigned i = 0; i < l && o + 1 < size; i++) {
			uint8_t c = name[i];
			if (c == '.' || c == '\\') {
				if (o + 2 >= size)
					break;
				buf[o++] = '\\';
				buf[o++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				if (o + 4 >= size)
					break;
				o += (size_t)snprintf(buf + o, size - o, "\\%03u", c);
			} else {
				buf[o++] = (char)c;
			}
		}
		name += l;
		if (o + 1 < size)
			buf[o++] = '.';
	}
	buf[o < size ? o : size - 1] = 0;
}

int vg_name_from_str(const char *s, uint8_t *out, size_t outlen)
{
	uint8_t buf[VG_NAME_MAX];
	size_t pos = 0, lab, llen;
	unsigned ch;

	if (!*s)
		return VG_EPARSE;
	for (; strcmp(s, ".") != 0;) { /* "." alone is the root; else one label per round */
		lab = pos++;
		for (llen = 0; *s && *s != '.'; llen++) {
			ch = (unsigned char)*s++;
			if (ch == '\\' && isdigit((unsigned char)s[0])) {
				if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
					return VG_EPARSE;
				ch = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
				     (unsigned)(s[2] - '0');
				s += 3;
				if (ch > 255)
					return VG_EPARSE;
			} else if (ch == '\\') {
				if (!*s)
					return VG_EPARSE;
				ch = (unsigned char)*s++;
			}
			/* a label has at most 63 bytes; keep room for the root label */
			if (llen == 63 || pos + 1 >= VG_NAME_MAX)
				return VG_ELIMIT;
			buf[pos++] = (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		if (llen == 0)
			return VG_EPARSE; /* "a..b", ".a" */
		buf[lab] = (uint8_t)llen;
		if (*s == '\0' || *++s == '\0')
			break;
		if (*s == '.')
			return VG_EPARSE; /* "a..": an empty label, not a trailing root */
	}
	buf[pos++] = 0;
	if (pos > outlen)
		return VG_ENOSPACE;
	memcpy(out, buf, pos);
	return (int)pos;
}
