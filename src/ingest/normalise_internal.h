/*
 * normalise_internal.h - what the two files of the normalisers share:
 * normalise.c (NULL words, numbers, whole numbers, coordinates, text and the
 * dispatch on a field type) and dates.c (every date form and the day/month
 * order evidence of a column). Here: the character classes, the trimming
 * and the NULL-word test every normaliser starts with, as inline functions,
 * so that neither file calls into the other except normalise.c's dispatch
 * into pf_norm_date. Private to them: include/propflow/ingest/normalise.h
 * stays the only interface.
 */
#ifndef PROPFLOW_NORMALISE_INTERNAL_H
#define PROPFLOW_NORMALISE_INTERNAL_H

#include "propflow/ingest/normalise.h"

#include <string.h>

static inline bool norm_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline bool norm_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool norm_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline unsigned char norm_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline bool norm_is_nbsp(const char *p, size_t n)
{
	return n >= 2 && (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0;
}

/* Trims ASCII white space and UTF-8 no-break spaces (C2 A0) at both ends. */
static inline void norm_trim(const char **s, size_t *len)
{
	const char *p = *s;
	size_t n = p ? *len : 0;

	for (;;) {
		if (n > 0 && norm_is_space((unsigned char)p[0])) {
			p++;
			n--;
		} else if (norm_is_nbsp(p, n)) {
			p += 2;
			n -= 2;
		} else {
			break;
		}
	}
	for (;;) {
		if (n > 0 && norm_is_space((unsigned char)p[n - 1]))
			n--;
		else if (n >= 2 && norm_is_nbsp(p + n - 2, 2))
			n -= 2;
		else
			break;
	}
	*s = p;
	*len = n;
}

static inline bool norm_word_eq(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);
	if (len != wl)
		return false;
	for (size_t i = 0; i < len; i++)
		if (norm_lower((unsigned char)s[i]) != (unsigned char)word[i])
			return false;
	return true;
}

static inline void norm_clear(char *out, size_t cap)
{
	if (out && cap > 0)
		out[0] = '\0';
}

/* ---- NULL words ------------------------------------------------------- */

/* "nan" is deliberately not here: in a number column it is reported as
 * "not a finite number", and in text it may be someone's name. */
static const char *const norm_null_words[] = {"", "na", "n/a", "#n/a", "null", "none", "-"};

static inline bool norm_null_trimmed(const char *s, size_t len)
{
	for (size_t i = 0; i < PF_ARRAY_LEN(norm_null_words); i++)
		if (norm_word_eq(s, len, norm_null_words[i]))
			return true;
	return false;
}

#endif
