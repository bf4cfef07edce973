// SPDX-License-Identifier: GPL-2.0
/*
 * Reading `rstwhy --json` recordings back.  Each line is parsed with json-c (strict mode,
 * UTF-8 checked) and then checked field by field, so that a damaged or foreign file is
 * reported with the line and the field that is wrong instead of being half understood.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include "jsonl.h"

#define FL_LETTERS "FSRPAUEC"

/* ---- interned strings (cause, origin, kernel reason repeat on every line) ---- */

struct strtab {
	char **slot;
	size_t cap, used;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool strtab_grow(struct strtab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	char **ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return false;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->slot[i])
			continue;
		for (j = hash_str(t->slot[i]) & (ncap - 1); ns[j]; j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return true;
}

static const char *intern(struct strtab *t, const char *s)
{
	size_t j;

	if ((t->used + 1) * 2 > t->cap && !strtab_grow(t))
		return NULL;
	for (j = hash_str(s) & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1))
		if (!strcmp(t->slot[j], s))
			return t->slot[j];
	t->slot[j] = strdup(s);
	if (!t->slot[j])
		return NULL;
	t->used++;
	return t->slot[j];
}

static void strtab_free(struct strtab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slot[i]);
	free(t->slot);
	free(t);
}

/* ---- time ---- */

static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

bool jsonl_parse_time(const char *s, int64_t *ns)
{
	int y, mo, d, h, mi, sec, oh, om;
	int64_t frac = 0, scale = 100000000;
	struct tm tm = {};
	time_t t;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	s += 19;
	if (*s == '.') {
		if (!isdigit((unsigned char)s[1]))
			return false;
		for (s++; isdigit((unsigned char)*s); s++) {
			frac += (*s - '0') * scale;
			scale /= 10;
		}
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (*s == 'Z' && !s[1]) {
		/* UTC */
	} else if ((*s == '+' || *s == '-') && digits(s + 1, 2, &oh) && s[3] == ':' &&
		   digits(s + 4, 2, &om) && !s[6] && oh < 24 && om < 60) {
		t += (*s == '+' ? -1 : 1) * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (t < 0 || t > INT64_MAX / 1000000000 - 1)	/* 1970 .. 2262 */
		return false;
	*ns = (int64_t)t * 1000000000 + frac;
	return true;
}

void jsonl_format_time(int64_t ns, char *buf, size_t len)
{
	time_t sec = ns / 1000000000;
	int64_t sub = ns % 1000000000;
	struct tm tm;
	char base[32];

	if (sub < 0) {
		sub += 1000000000;
		sec--;
	}
	if (!gmtime_r(&sec, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(base, sizeof(base), "@%lld", (long long)sec);
	snprintf(buf, len, "%s.%06dZ", base, (int)(sub / 1000));
}

void tcp_flags_str(unsigned int flags, char *buf)
{
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (flags & (1u << i))
			buf[n++] = FL_LETTERS[i];
	buf[n] = 0;
}

struct json_object *jsonl_double(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.9g", v);
	return json_object_new_double_s(v, buf);
}

void jsonl_bad_option(const char *cmd, const char *arg)
{
	fprintf(stderr, "rstwhy %s: bad option '%s' (unknown, or missing its value): see "
		"rstwhy %s --help\n", cmd, arg, cmd);
}

static bool parse_flags(const char *s, uint8_t *flags)
{
	const char *p;

	*flags = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		p = strchr(FL_LETTERS, *s);
		if (!p)
			return false;
		*flags |= 1u << (p - FL_LETTERS);
	}
	return true;
}

/* ---- one line ---- */

struct ctx {
	struct jev_file *f;
	struct strtab *strs;
	char *err;
	size_t errlen;
	long line;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct ctx *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)	/* values quoted from the file stay on one line */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(c->err, c->errlen, "%s: line %ld: %s", c->f->path, c->line, msg);
	return -1;
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static int get_str(struct ctx *c, json_object *o, const char *key, bool null_ok,
		   const char **out)
{
	json_object *v = field(o, key);

	if (!json_object_object_get_ex(o, key, NULL))
		return bad(c, "no \"%s\" (not an rstwhy --json event?)", key);
	if (!v && null_ok) {
		*out = NULL;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return bad(c, "\"%s\" must be a string%s", key, null_ok ? " or null" : "");
	*out = intern(c->strs, json_object_get_string(v));
	if (!*out)
		return bad(c, "out of memory");
	return 0;
}

static int get_int(struct ctx *c, json_object *o, const char *key, int64_t max, int64_t *out)
{
	json_object *v = field(o, key);

	if (!v)
		return bad(c, "no \"%s\" (not an rstwhy --json event?)", key);
	if (!json_object_is_type(v, json_type_int))
		return bad(c, "\"%s\" must be an integer", key);
	errno = 0;
	*out = json_object_get_int64(v);
	if (errno || *out < 0 || *out > max)
		return bad(c, "\"%s\" out of range (0..%lld)", key, (long long)max);
	return 0;
}

static int get_addr(struct ctx *c, json_object *o, const char *key, int family, uint8_t *a)
{
	const char *s;

	if (get_str(c, o, key, false, &s))
		return -1;
	if (inet_pton(family, s, a) != 1)
		return bad(c, "\"%s\" is not an %s address: \"%s\"", key,
			   family == AF_INET ? "IPv4" : "IPv6", s);
	return 0;
}

static int get_task(struct ctx *c, json_object *o, const char *key, struct jev_task *t)
{
	json_object *v = field(o, key), *pid, *comm;

	memset(t, 0, sizeof(*t));
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return bad(c, "\"%s\" must be an object {\"pid\":N,\"comm\":\"...\"} or null", key);
	pid = field(v, "pid");
	comm = field(v, "comm");
	if (!json_object_is_type(pid, json_type_int) || json_object_get_int64(pid) < 0)
		return bad(c, "\"%s\".pid must be a non-negative integer", key);
	if (comm && !json_object_is_type(comm, json_type_string))
		return bad(c, "\"%s\".comm must be a string", key);
	t->valid = true;
	t->pid = json_object_get_int64(pid);
	snprintf(t->comm, sizeof(t->comm), "%s", comm ? json_object_get_string(comm) : "");
	return 0;
}

static int parse_event(struct ctx *c, json_object *o, struct jev *e)
{
	const char *s, *dir, *fam;
	int64_t v;

	memset(e, 0, sizeof(*e));
	e->line = c->line;
	if (get_str(c, o, "time", false, &s))
		return -1;
	if (!jsonl_parse_time(s, &e->time_ns))
		return bad(c, "\"time\" is not an ISO 8601 UTC time: \"%s\"", s);
	if (get_str(c, o, "dir", false, &dir) || get_str(c, o, "cause", false, &e->cause) ||
	    get_str(c, o, "origin", false, &e->origin) ||
	    get_str(c, o, "family", false, &fam))
		return -1;
	if (strcmp(dir, "sent") && strcmp(dir, "received"))
		return bad(c, "\"dir\" must be \"sent\" or \"received\", not \"%s\"", dir);
	e->sent = !strcmp(dir, "sent");
	if (!strcmp(fam, "ipv4"))
		e->family = AF_INET;
	else if (!strcmp(fam, "ipv6"))
		e->family = AF_INET6;
	else
		return bad(c, "\"family\" must be \"ipv4\" or \"ipv6\", not \"%s\"", fam);
	if (get_addr(c, o, "saddr", e->family, e->saddr) ||
	    get_addr(c, o, "daddr", e->family, e->daddr))
		return -1;
	if (get_int(c, o, "sport", 65535, &v))
		return -1;
	e->sport = v;
	if (get_int(c, o, "dport", 65535, &v))
		return -1;
	e->dport = v;
	if (json_object_object_get_ex(o, "kernel_reason", NULL) &&
	    get_str(c, o, "kernel_reason", true, &e->kreason))
		return -1;
	if (get_task(c, o, "owner", &e->owner) || get_task(c, o, "actor", &e->actor))
		return -1;

	/* the RST's own numbers: newer recordings have them, older ones do not */
	if (field(o, "seq")) {
		if (get_int(c, o, "seq", UINT32_MAX, &v))
			return -1;
		e->seq = v;
		if (get_str(c, o, "flags", false, &s))
			return -1;
		if (!parse_flags(s, &e->flags))
			return bad(c, "\"flags\" must be TCP flag letters (FSRPAUEC), not \"%s\"",
				   s);
		if (field(o, "ack")) {
			if (get_int(c, o, "ack", UINT32_MAX, &v))
				return -1;
			e->ack = v;
		} else if (e->flags & TF_ACK) {
			return bad(c, "\"flags\" has ACK (A) but there is no \"ack\"");
		}
		e->has_seq = true;
	}
	return 0;
}

static int parse_line(struct ctx *c, char *line, size_t len, struct jev *e, bool *blank)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *o;
	size_t i, end;
	int ret;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = 0;
	for (i = 0; i < len && isspace((unsigned char)line[i]); i++)
		;
	*blank = i == len;
	if (*blank)
		return 0;
	if (memchr(line, 0, len))
		return bad(c, "contains a NUL byte (binary data, not JSON lines)");
	tok = json_tokener_new();
	if (!tok)
		return bad(c, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line, len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(o);
		if (line[i] == '{')
			return bad(c, "JSON object cut short (truncated line?)");
		return bad(c, "not a JSON object");
	}
	if (jerr != json_tokener_success) {
		json_object_put(o);
		return bad(c, "not valid JSON: %s at column %zu", json_tokener_error_desc(jerr),
			   end + 1);
	}
	for (; end < len && isspace((unsigned char)line[end]); end++)
		;
	if (end < len) {
		json_object_put(o);
		return bad(c, "unexpected text after the JSON object at column %zu", end + 1);
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return bad(c, "not a JSON object");
	}
	ret = parse_event(c, o, e);
	json_object_put(o);
	return ret;
}

int jsonl_load(struct jev_file *f, const char *path, char *err, size_t errlen)
{
	struct ctx c = { .f = f, .err = err, .errlen = errlen };
	size_t cap = 0, bufsz = 0;
	char *buf = NULL;
	ssize_t len;
	struct stat st;
	bool blank;
	FILE *fp;
	int ret = 0;

	memset(f, 0, sizeof(*f));
	f->path = path;
	c.strs = calloc(1, sizeof(*c.strs));
	if (!c.strs) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	f->strings = c.strs;
	fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!fstat(fileno(fp), &st) && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: a directory, not an events file", path);
		if (fp != stdin)
			fclose(fp);
		return -1;
	}
	errno = 0;
	while ((len = getline(&buf, &bufsz, fp)) >= 0) {
		c.line++;
		if (f->n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct jev *nev = realloc(f->ev, ncap * sizeof(*nev));

			if (!nev) {
				ret = bad(&c, "out of memory");
				break;
			}
			f->ev = nev;
			cap = ncap;
		}
		ret = parse_line(&c, buf, len, &f->ev[f->n], &blank);
		if (ret)
			break;
		if (!blank)
			f->n++;
		errno = 0;
	}
	if (!ret && ferror(fp)) {
		snprintf(err, errlen, "%s: read error after line %ld: %s", path, c.line,
			 strerror(errno ? errno : EIO));
		ret = -1;
	}
	f->lines = c.line;
	free(buf);
	if (fp != stdin)
		fclose(fp);
	return ret;
}

void jsonl_free(struct jev_file *f)
{
	free(f->ev);
	strtab_free(f->strings);
	memset(f, 0, sizeof(*f));
}
