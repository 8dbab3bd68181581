/*
 * multipart.c - streaming multipart/form-data decoder (RFC 7578, RFC 2046).
 *
 * The body is scanned once for the delimiter CRLF "--" boundary with a
 * KMP matcher, so a delimiter split across feeds at any byte is found
 * without buffering: bytes held as a possible delimiter prefix are always
 * a prefix of the delimiter itself and are re-emitted from it on a
 * mismatch. The stream is treated as if it began with CRLF, so the first
 * boundary needs none. Only the part headers are buffered (capped).
 */
#include "propflow/net/multipart.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PF_MULTIPART_DELIM_MAX    (4 + PF_MULTIPART_BOUNDARY_MAX) /* CRLF "--" boundary */
#define PF_MULTIPART_FILENAME_MAX 1024 /* bytes of a part's filename we keep */

typedef enum mp_state {
	MP_PREAMBLE,   /* before the first boundary: skipped */
	MP_AFTER,      /* after a delimiter: "--", padding or CRLF follows */
	MP_AFTER_DASH, /* one '-' of the closing "--" seen */
	MP_AFTER_CR,   /* CR of the boundary line's end seen */
	MP_HEADERS,    /* collecting a part's headers */
	MP_DATA,       /* inside a part's content */
	MP_DONE,       /* closing boundary seen */
	MP_ERROR,      /* malformed; see error */
} mp_state;

struct pf_multipart {
	pf_multipart_data_cb cb;                      /* receives the file part's content */
	void *arg;                                    /* borrowed: cb argument */
	char delim[PF_MULTIPART_DELIM_MAX];           /* owned copy: CRLF "--" boundary */
	size_t dlen;                                  /* bytes in delim */
	size_t fail[PF_MULTIPART_DELIM_MAX];          /* KMP failure function of delim */
	size_t mi;                                    /* delimiter bytes matched so far */
	mp_state state;                               /* where we are */
	char hbuf[PF_MULTIPART_PART_HEADERS_MAX + 1]; /* owned: current part's headers */
	size_t hlen;                                  /* bytes in hbuf */
	char *filename;                               /* owned: the file part's filename or NULL */
	bool file_seen;                               /* the file part's headers were read */
	bool file_done;    /* the delimiter after the file part was seen */
	bool selected;     /* the current part is the file part */
	const char *error; /* static: why the body is malformed */
};

static void set_error(pf_multipart *mp, const char *why)
{
	mp->state = MP_ERROR;
	if (!mp->error)
		mp->error = why;
}

/* Value of parameter `name` in a header parameter list ("; a=b; c=\"d\""), copied. */
static char *param_value(const char *s, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = s;
	while ((p = strchr(p, ';'))) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nlen) != 0) {
			continue;
		}
		const char *q = p + nlen;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '=')
			continue;
		q++;
		while (*q == ' ' || *q == '\t')
			q++;
		size_t cap = strlen(q) + 1;
		char *out = malloc(cap);
		if (!out)
			return NULL;
		size_t o = 0;
		if (*q == '"') {
			for (q++; *q && *q != '"'; q++) {
				if (*q == '\\' && q[1])
					q++;
				out[o++] = *q;
			}
		} else {
			for (; *q && *q != ';' && *q != ' ' && *q != '\t'; q++)
				out[o++] = *q;
		}
		out[o] = '\0';
		return out;
	}
	return NULL;
}

static bool boundary_ok(const char *b)
{
	size_t n = strlen(b);
	if (n == 0 || n > PF_MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)b[i];
		if (!isalnum(ch) && !strchr("'()+_,-./:=? ", ch))
			return false;
	}
	return true;
}

pf_multipart *pf_multipart_new(const char *content_type, pf_multipart_data_cb cb, void *arg,
                               const char **why)
{
	static const char type[] = "multipart/form-data";
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (!content_type) {
		*why = "no content type";
		return NULL;
	}
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	if (strncasecmp(content_type, type, sizeof(type) - 1) != 0 ||
	    (content_type[sizeof(type) - 1] && !strchr("; \t", content_type[sizeof(type) - 1]))) {
		*why = "not multipart/form-data";
		return NULL;
	}
	char *b = param_value(content_type + sizeof(type) - 1, "boundary");
	if (!b || !boundary_ok(b)) {
		*why = b ? "invalid multipart boundary" : "missing multipart boundary";
		free(b);
		return NULL;
	}
	pf_multipart *mp = calloc(1, sizeof(*mp));
	if (!mp) {
		free(b);
		*why = "out of memory";
		return NULL;
	}
	mp->cb = cb;
	mp->arg = arg;
	memcpy(mp->delim, "\r\n--", 4);
	memcpy(mp->delim + 4, b, strlen(b));
	mp->dlen = 4 + strlen(b);
	free(b);
	/* KMP failure function: fail[i] = longest proper border of delim[0..i] */
	mp->fail[0] = 0;
	for (size_t i = 1, k = 0; i < mp->dlen; i++) {
		while (k > 0 && mp->delim[i] != mp->delim[k])
			k = mp->fail[k - 1];
		if (mp->delim[i] == mp->delim[k])
			k++;
		mp->fail[i] = k;
	}
	/* as if the body began with CRLF: the first boundary needs none */
	mp->mi = 2;
	mp->state = MP_PREAMBLE;
	return mp;
}

void pf_multipart_free(pf_multipart *mp)
{
	if (!mp)
		return;
	free(mp->filename);
	free(mp);
}

/* Hand content bytes to the callback if this is the file part: 0 go on, 1 paused, -1 failed. */
static int emit(pf_multipart *mp, const char *p, size_t n)
{
	if (!mp->selected || n == 0)
		return 0;
	int r = mp->cb(mp->arg, p, n);
	if (r < 0) {
		set_error(mp, "data callback failed");
		return -1;
	}
	return r == PF_MULTIPART_PAUSED ? 1 : 0;
}

/*
 * Scan for the delimiter from data[*pos]; content before it goes to emit().
 * Returns emit()'s 1 (paused) or -1 (failed) with *pos just past what was
 * taken, or 0 after running out of data or finding the delimiter (the state
 * then moves to MP_AFTER).
 */
static int scan(pf_multipart *mp, const char *data, size_t len, size_t *pos)
{
	size_t i = *pos;
	int r;
	while (i < len) {
		if (mp->mi == 0) {
			const char *cr = memchr(data + i, '\r', len - i);
			size_t end = cr ? (size_t)(cr - data) : len;
			r = emit(mp, data + i, end - i);
			i = end;
			if (r || !cr) {
				*pos = i;
				return r;
			}
			mp->mi = 1;
			i++;
			continue;
		}
		char ch = data[i];
		if (ch == mp->delim[mp->mi]) {
			mp->mi++;
			i++;
			if (mp->mi == mp->dlen) {
				mp->mi = 0;
				mp->state = MP_AFTER;
				if (mp->selected) {
					mp->selected = false;
					mp->file_done = true;
				}
				*pos = i;
				return 0;
			}
			continue;
		}
		/* mismatch: the held prefix (minus its longest border) was content */
		while (mp->mi > 0 && mp->delim[mp->mi] != ch) {
			size_t k = mp->fail[mp->mi - 1];
			size_t n = mp->mi - k;
			mp->mi = k;
			r = emit(mp, mp->delim, n);
			if (r) {
				*pos = i;
				return r;
			}
		}
		if (mp->delim[mp->mi] == ch) {
			mp->mi++;
			i++;
		} else {
			i++;
			r = emit(mp, data + i - 1, 1);
			if (r) {
				*pos = i;
				return r;
			}
		}
	}
	*pos = i;
	return 0;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A part's headers are complete: decide whether it is the file part. */
static void part_headers(pf_multipart *mp)
{
	mp->hbuf[mp->hlen] = '\0';
	char *line = mp->hbuf;
	char *name = NULL, *filename = NULL;
	bool has_filename = false;
	while (*line) {
		char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		*eol = '\0';
		char *colon = strchr(line, ':');
		if (colon && (size_t)(colon - line) == 19 &&
		    strncasecmp(line, "Content-Disposition", 19) == 0) {
			char *v = colon + 1;
			free(name);
			free(filename);
			name = param_value(v, "name");
			filename = param_value(v, "filename");
			has_filename = filename != NULL;
			if (!filename) {
				/* RFC 5987 form: filename*=charset'lang'value */
				char *ext = param_value(v, "filename*");
				char *q = ext ? strstr(ext, "''") : NULL;
				if (q) {
					has_filename = true;
					filename = malloc(strlen(q) + 1);
					size_t o = 0;
					for (q += 2; filename && *q; q++) {
						int hi = q[1] ? hex_val(q[1]) : -1;
						int lo = hi >= 0 ? hex_val(q[2]) : -1;
						if (*q == '%' && hi >= 0 && lo >= 0) {
							if (hi || lo)
								filename[o++] =
								    (char)(hi * 16 + lo);
							q += 2;
						} else {
							filename[o++] = *q;
						}
					}
					if (filename)
						filename[o] = '\0';
				}
				free(ext);
			}
		}
		line = eol + 2;
	}
	bool is_file = has_filename || (name && strcmp(name, "file") == 0);
	if (!mp->file_seen && is_file) {
		mp->file_seen = true;
		mp->selected = true;
		if (filename && strlen(filename) > PF_MULTIPART_FILENAME_MAX)
			filename[PF_MULTIPART_FILENAME_MAX] = '\0';
		mp->filename = filename;
		filename = NULL;
	}
	free(name);
	free(filename);
}

int pf_multipart_feed(pf_multipart *mp, const char *data, size_t len, size_t *consumed)
{
	size_t i = 0;
	*consumed = 0;
	while (i < len) {
		char ch;
		switch (mp->state) {
		case MP_ERROR: return PF_EINVAL;
		case MP_DONE: *consumed = len; return PF_MULTIPART_DONE;
		case MP_PREAMBLE:
		case MP_DATA: {
			int r = scan(mp, data, len, &i);
			*consumed = i;
			if (r < 0)
				return PF_EINVAL;
			if (r > 0)
				return PF_MULTIPART_PAUSED;
			break;
		}
		case MP_AFTER:
			ch = data[i++];
			if (ch == '-')
				mp->state = MP_AFTER_DASH;
			else if (ch == '\r')
				mp->state = MP_AFTER_CR;
			else if (ch != ' ' && ch != '\t')
				set_error(mp, "malformed boundary line");
			break;
		case MP_AFTER_DASH:
			ch = data[i++];
			if (ch == '-')
				mp->state = MP_DONE;
			else
				set_error(mp, "malformed closing boundary");
			break;
		case MP_AFTER_CR:
			ch = data[i++];
			if (ch == '\n') {
				mp->state = MP_HEADERS;
				mp->hlen = 0;
			} else {
				set_error(mp, "malformed boundary line");
			}
			break;
		case MP_HEADERS:
			if (mp->hlen >= PF_MULTIPART_PART_HEADERS_MAX) {
				set_error(mp, "part headers too large");
				break;
			}
			mp->hbuf[mp->hlen++] = data[i++];
			if ((mp->hlen == 2 && memcmp(mp->hbuf, "\r\n", 2) == 0) ||
			    (mp->hlen >= 4 &&
			     memcmp(mp->hbuf + mp->hlen - 4, "\r\n\r\n", 4) == 0)) {
				part_headers(mp);
				mp->state = MP_DATA;
			}
			break;
		default: abort();
		}
	}
	*consumed = len;
	if (mp->state == MP_ERROR)
		return PF_EINVAL;
	return mp->state == MP_DONE ? PF_MULTIPART_DONE : 0;
}

int pf_multipart_finish(pf_multipart *mp)
{
	if (mp->state == MP_ERROR)
		return PF_EINVAL;
	if (!mp->file_seen) {
		set_error(mp, "no file part in the form");
		return PF_EINVAL;
	}
	if (!mp->file_done) {
		set_error(mp, "form ended inside the file part");
		return PF_EINVAL;
	}
	return 0;
}

const char *pf_multipart_error(const pf_multipart *mp)
{
	return mp->error ? mp->error : "";
}

const char *pf_multipart_filename(const pf_multipart *mp)
{
	return mp->filename;
}

bool pf_multipart_in_file(const pf_multipart *mp)
{
	return mp->file_seen;
}
