/*
 * check.h - a tiny TAP producer for unit tests of pure logic. Each
 * CHECK prints "ok N - expr" or "not ok N - expr (file:line)"; main ends
 * with CHECK_DONE(), which prints the plan and returns the exit status.
 */
#ifndef PROPFLOW_TEST_CHECK_H
#define PROPFLOW_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_n, check_failed;

/* A TAP line must stay one line: control characters in a message (a CSV
 * record's newline, say) are printed escaped. */
static inline void check_print_line(const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\r')
			fputs("\\r", stdout);
		else if (*p < 0x20)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
	putchar('\n');
}

#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		check_n++;                                                                         \
		if (cond) {                                                                        \
			printf("ok %d - ", check_n);                                               \
		} else {                                                                           \
			check_failed++;                                                            \
			printf("not ok %d - (%s:%d) ", check_n, __FILE__, __LINE__);               \
		}                                                                                  \
		char check_msg_[2048];                                                             \
		snprintf(check_msg_, sizeof(check_msg_), __VA_ARGS__);                             \
		check_print_line(check_msg_);                                                      \
	} while (0)

#define CHECK(cond) CHECK_MSG(cond, "%s", #cond)
#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		CHECK_MSG(g_ &&w_ &&strcmp(g_, w_) == 0, "%s == \"%s\" (got \"%s\")", #got,        \
		          w_ ? w_ : "(null)", g_ ? g_ : "(null)");                                 \
	} while (0)
#define CHECK_INT(got, want)                                                                       \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		CHECK_MSG(g_ == w_, "%s == %lld (got %lld)", #got, w_, g_);                        \
	} while (0)

#define CHECK_DONE() (printf("1..%d\n", check_n), check_failed ? 1 : 0)

#endif
