/* test_cursor.c - sealed paging cursors: round trip, one spelling, and any
 * change, another kind or another key refused. */
#include "check.h"
#include "propflow/api/cursor.h"

static const uint8_t key[PF_CURSOR_KEY_BYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static bool same(const pf_cursor *a, const pf_cursor *b)
{
	return a->job == b->job && a->gen == b->gen && a->pos == b->pos;
}

int main(void)
{
	char text[PF_CURSOR_CHARS + 1], again[PF_CURSOR_CHARS + 1];
	pf_cursor in = {1234567, 3, 987654321012LL}, out = {0};

	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &in, text, sizeof(text)), 0);
	CHECK_INT(strlen(text), PF_CURSOR_CHARS);
	CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      PF_CURSOR_CHARS); /* safe in a query string as it is */
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, text, &out), 0);
	CHECK(same(&in, &out));
	/* a random nonce: the same values never give the same text */
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &in, again, sizeof(again)), 0);
	CHECK(strcmp(text, again) != 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, again, &out), 0);
	CHECK(same(&in, &out));
	/* the values do not show: the position's digits are nowhere */
	CHECK(strstr(text, "987654321012") == NULL);

	/* edges */
	pf_cursor zero = {1, 0, 0}, big = {INT64_MAX, INT64_MAX, INT64_MAX};
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_ERRORS, &zero, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_ERRORS, text, &out), 0);
	CHECK(same(&zero, &out));
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_ERRORS, &big, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_ERRORS, text, &out), 0);
	CHECK(same(&big, &out));
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_ERRORS, &big, text, PF_CURSOR_CHARS), PF_ELIMIT);

	/* out of range values are sealed as given but never opened */
	pf_cursor neg = {5, 1, -1}, nojob = {0, 1, 1}, neggen = {5, -1, 1};
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &neg, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, text, &out), PF_EINVAL);
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &nojob, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, text, &out), PF_EINVAL);
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &neggen, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, text, &out), PF_EINVAL);

	/* another kind, another key */
	CHECK_INT(pf_cursor_encode(key, PF_CURSOR_RECORDS, &in, text, sizeof(text)), 0);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_ERRORS, text, &out), PF_EINVAL);
	uint8_t other[PF_CURSOR_KEY_BYTES];
	memcpy(other, key, sizeof(other));
	other[31] ^= 1;
	CHECK_INT(pf_cursor_decode(other, PF_CURSOR_RECORDS, text, &out), PF_EINVAL);

	/* every single-character change is refused, the last one's spare bits
	 * included (strict base64url: one spelling per cursor) */
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int accepted = 0, tried = 0;
	for (size_t i = 0; i < PF_CURSOR_CHARS; i++) {
		char t[PF_CURSOR_CHARS + 1];
		for (size_t a = 0; a < sizeof(alphabet) - 1; a += 7) {
			memcpy(t, text, sizeof(t));
			if (t[i] == alphabet[a])
				continue;
			t[i] = alphabet[a];
			tried++;
			if (pf_cursor_decode(key, PF_CURSOR_RECORDS, t, &out) == 0)
				accepted++;
		}
	}
	CHECK_MSG(accepted == 0, "%d of %d changed cursors accepted", accepted, tried);

	/* not cursors at all */
	const char *junk[] = {"", "0", "999999999999999999", "-1", "not-a-cursor", "zzz!", "%00"};
	for (size_t i = 0; i < PF_ARRAY_LEN(junk); i++)
		CHECK_MSG(pf_cursor_decode(key, PF_CURSOR_RECORDS, junk[i], &out) == PF_EINVAL,
		          "\"%s\" refused", junk[i]);
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, NULL, &out), PF_EINVAL);
	char t[PF_CURSOR_CHARS + 3];
	snprintf(t, sizeof(t), "%s=", text); /* padding */
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, t, &out), PF_EINVAL);
	snprintf(t, sizeof(t), "%.*s", PF_CURSOR_CHARS - 1, text); /* one short */
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, t, &out), PF_EINVAL);
	memcpy(t, text, sizeof(text));
	t[10] = '+'; /* base64, not base64url */
	CHECK_INT(pf_cursor_decode(key, PF_CURSOR_RECORDS, t, &out), PF_EINVAL);
	return CHECK_DONE();
}
