// SPDX-License-Identifier: GPL-2.0
/* The JSON writer and UTF-8 cleaning (see json.h). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "json.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

static bool cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

int utf8_next(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;	/* range of the second byte */
	int len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return -1;	/* a continuation byte, C0, C1 or F5..FF: never valid first */
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* above U+10FFFF */
	/* the maximal prefix of a valid sequence is one ill-formed unit */
	if (n < 2 || s[1] < lo || s[1] > hi)
		return -1;
	for (int i = 2; i < len; i++)
		if ((size_t)i >= n || !cont(s[i]))
			return -i;
	return len;
}

size_t utf8_clean(char *out, size_t outlen, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, end = strnlen(s, n);

	for (size_t i = 0; i < end;) {
		int k = utf8_next(u + i, end - i);
		const char *src = k > 0 ? s + i : replacement;
		size_t len = k > 0 ? (size_t)k : 3;

		if (o + len + 1 > outlen)
			break;
		memcpy(out + o, src, len);
		o += len;
		i += k > 0 ? k : -k;
	}
	if (outlen)
		out[o] = 0;
	return o;
}

const char *comm_clean(char out[COMM_CLEAN_LEN], const char *comm)
{
	utf8_clean(out, COMM_CLEAN_LEN, comm, 16);
	return out;
}

void json_strn(FILE *f, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = strnlen(s, n), run = 0;

	putc_unlocked('"', f);
	/* what needs no escaping goes out in runs: one write per run, not per character */
	for (size_t i = 0; i < end;) {
		unsigned char c = u[i];
		int k = 0;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_next(u + i, end - i)) > 0) {
			i += k;
			continue;
		}
		fwrite_unlocked(s + run, 1, i - run, f);
		if (c == '"' || c == '\\') {
			putc_unlocked('\\', f);
			putc_unlocked(c, f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			static const char short_esc[] = { ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
							   ['\f'] = 'f', ['\r'] = 'r' };

			if (c < sizeof(short_esc) && short_esc[c])
				fprintf(f, "\\%c", short_esc[c]);
			else
				fprintf(f, "\\u%04x", c);
			i++;
		} else {
			fputs_unlocked(replacement, f);
			i += -k;
		}
		run = i;
	}
	fwrite_unlocked(s + run, 1, end - run, f);
	putc_unlocked('"', f);
}

void json_str(FILE *f, const char *s)
{
	json_strn(f, s, SIZE_MAX);
}

/* ---- the streaming writer ---------------------------------------------------------------- */

void jw_init(struct jw *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->first[0] = true;
}

/* the comma and the key before a value */
static void member(struct jw *w, const char *key)
{
	if (!w->first[w->depth])
		putc_unlocked(',', w->f);
	w->first[w->depth] = false;
	if (key) {
		json_str(w->f, key);
		putc_unlocked(':', w->f);
	}
}

static void open_(struct jw *w, const char *key, char c)
{
	member(w, key);
	putc_unlocked(c, w->f);
	if (w->depth < JW_MAX_DEPTH - 1)
		w->depth++;
	w->first[w->depth] = true;
	w->close[w->depth] = c == '{' ? '}' : ']';
}

void jw_obj(struct jw *w, const char *key)
{
	open_(w, key, '{');
}

void jw_arr(struct jw *w, const char *key)
{
	open_(w, key, '[');
}

void jw_end(struct jw *w)
{
	if (!w->depth)
		return;
	putc_unlocked(w->close[w->depth], w->f);
	w->depth--;
}

void jw_strn(struct jw *w, const char *key, const char *s, size_t n)
{
	member(w, key);
	if (s)
		json_strn(w->f, s, n);
	else
		fputs_unlocked("null", w->f);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
	jw_strn(w, key, s, SIZE_MAX);
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	member(w, key);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
	member(w, key);
	fprintf(w->f, "%" PRId64, v);
}

void jw_double(struct jw *w, const char *key, double v, int decimals)
{
	member(w, key);
	if (v != v || v > 1e300 || v < -1e300)
		fputs_unlocked("null", w->f);	/* JSON has no NaN or infinity */
	else
		fprintf(w->f, "%.*f", decimals, v);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
	member(w, key);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
	member(w, key);
	fputs_unlocked("null", w->f);
}

void jw_raw(struct jw *w, const char *key, const char *json)
{
	member(w, key);
	fputs(json, w->f);
}

void jw_jsonc(struct jw *w, const char *key, struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_object:
		jw_obj(w, key);
		json_object_object_foreach(o, k, v)
			jw_jsonc(w, k, v);
		jw_end(w);
		break;
	case json_type_array:
		jw_arr(w, key);
		for (size_t i = 0; i < json_object_array_length(o); i++)
			jw_jsonc(w, NULL, json_object_array_get_idx(o, i));
		jw_end(w);
		break;
	case json_type_string:
		jw_strn(w, key, json_object_get_string(o), json_object_get_string_len(o));
		break;
	case json_type_null:
		jw_null(w, key);
		break;
	default:	/* numbers and booleans: json-c writes them as they were read */
		jw_raw(w, key, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	}
}
