/*
 * utf8.h - whether text is well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF). Text from a request (a file name in
 * a query, tus metadata or a multipart part) is checked with it before it
 * reaches PostgreSQL, which would refuse it with an error that says nothing
 * about the request.
 */
#ifndef PROPFLOW_UTF8_H
#define PROPFLOW_UTF8_H

#include "propflow/base/common.h"

/* Length of the well-formed sequence at s (1..4), 0 when it is not one,
 * -1 when the avail bytes are a well-formed but incomplete prefix (more
 * bytes may complete it: the CSV reader's chunk boundaries). avail >= 1. */
int pf_utf8_seq(const unsigned char *s, size_t avail);
/* true when the len bytes at s are well-formed UTF-8 (NUL counts as valid). */
bool pf_utf8_valid(const char *s, size_t len);
/* Code points in the len bytes at s, which must be valid UTF-8. */
size_t pf_utf8_chars(const char *s, size_t len);

#endif
