/*
 * utf8_valid.h - strict UTF-8 validation for tests and fuzz harnesses
 * (shortest forms only, no surrogates, nothing past U+10FFFF, no NUL):
 * what every text that leaves the CSV reader must be.
 */
#ifndef PROPFLOW_TEST_UTF8_VALID_H
#define PROPFLOW_TEST_UTF8_VALID_H

#include <stdbool.h>
#include <stddef.h>

static inline bool utf8_valid(const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i = 0;
	while (i < n) {
		unsigned char b = p[i];
		size_t k;
		unsigned lo = 0x80, hi = 0xBF;
		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF) {
			k = 2;
		} else if (b >= 0xE0 && b <= 0xEF) {
			k = 3;
			lo = b == 0xE0 ? 0xA0 : 0x80;
			hi = b == 0xED ? 0x9F : 0xBF;
		} else if (b >= 0xF0 && b <= 0xF4) {
			k = 4;
			lo = b == 0xF0 ? 0x90 : 0x80;
			hi = b == 0xF4 ? 0x8F : 0xBF;
		} else {
			return false;
		}
		if (i + k > n)
			return false;
		for (size_t j = 1; j < k; j++) {
			if (p[i + j] < lo || p[i + j] > hi)
				return false;
			lo = 0x80;
			hi = 0xBF;
		}
		i += k;
	}
	return true;
}

#endif
