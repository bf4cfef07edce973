/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one JSON writer of rstwhy (events, --summary -j, --stats-file, selftest -j) and the
 * UTF-8 cleaning every output shares. A process name (comm) is 15 bytes the process chose or
 * the kernel cut, maybe in the middle of a character: every output must still be valid UTF-8.
 * Valid UTF-8 passes through as it is; each ill-formed sequence (its maximal invalid prefix)
 * becomes U+FFFD; in JSON, control characters are escaped.
 */
#ifndef RW_JSON_H
#define RW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available): > 0; or -k when the k
 * bytes at s (k >= 1) are ill-formed and stand for one U+FFFD.
 */
int utf8_next(const unsigned char *s, size_t n);

/*
 * s (at most n bytes, up to its NUL) as valid UTF-8 into out (always NUL-terminated; never
 * cuts a character). For the table, pcapng comments and Prometheus labels. Returns strlen(out).
 * out needs 3 * n + 1 bytes to hold everything.
 */
size_t utf8_clean(char *out, size_t outlen, const char *s, size_t n);

/* a process name (RW_COMM_LEN bytes, maybe not NUL-terminated), cleaned: 3 * 16 + 1 bytes */
#define COMM_CLEAN_LEN 49
const char *comm_clean(char out[COMM_CLEAN_LEN], const char *comm);

/* s (at most n bytes, up to its NUL) as a quoted JSON string */
void json_strn(FILE *f, const char *s, size_t n);
void json_str(FILE *f, const char *s);

/*
 * A streaming writer: objects and arrays nest, commas are placed for you. key is the member
 * name inside an object, NULL inside an array or at the top.
 *	struct jw w; jw_init(&w, f);
 *	jw_obj(&w, NULL); jw_u64(&w, "sent", 3); jw_arr(&w, "sinks"); ... jw_end(&w); jw_end(&w);
 */
#define JW_MAX_DEPTH 16
struct jw {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH];	/* nothing written yet at this level */
	char close[JW_MAX_DEPTH];	/* '}' or ']' */
};

void jw_init(struct jw *w, FILE *f);
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
void jw_end(struct jw *w);		/* closes the innermost object or array */
void jw_str(struct jw *w, const char *key, const char *s);	/* NULL: null */
void jw_strn(struct jw *w, const char *key, const char *s, size_t n);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_double(struct jw *w, const char *key, double v, int decimals);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
/* an already formatted JSON value (a number, true) */
void jw_raw(struct jw *w, const char *key, const char *json);
/* a json-c value (selftest embeds the events it read back), its strings cleaned the same way */
struct json_object;
void jw_jsonc(struct jw *w, const char *key, struct json_object *o);

#endif
