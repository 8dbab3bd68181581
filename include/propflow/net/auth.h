/*
 * auth.h - the pure pieces of authentication: random secrets, their
 * SHA-256 digests (what the database stores), CSRF tokens derived from a
 * session secret, scrypt password hashes, and reading credentials out of
 * Cookie and Authorization headers. No I/O beyond the CSPRNG.
 *
 * Secrets are text (base64url, no padding) and are digested as text, so a
 * lookup hashes exactly the bytes the client sent.
 */
#ifndef PROPFLOW_AUTH_H
#define PROPFLOW_AUTH_H

#include "propflow/base/common.h"
#include <stddef.h>
#include <stdint.h>

#define PF_AUTH_SECRET_BYTES  32 /* entropy of a session id, token or link */
#define PF_AUTH_SECRET_CHARS  43 /* base64url of 32 bytes, no padding */
#define PF_AUTH_TOKEN_PREFIX  "pft_"
#define PF_AUTH_TOKEN_CHARS   (4 + PF_AUTH_SECRET_CHARS)
#define PF_AUTH_DIGEST_BYTES  32 /* sha256 */
#define PF_AUTH_CSRF_CHARS    43
#define PF_AUTH_HASH_TEXT_MAX 160 /* an encoded scrypt hash, NUL included */
#define PF_AUTH_PASSWORD_MAX  1024
#define PF_AUTH_SCRYPT_LOG_N  15 /* N = 32768, r = 8, p = 1: 32 MiB, ~0.1 s */
#define PF_AUTH_COOKIE        "pf_session"

/* Positive result codes. */
enum {
	PF_AUTH_MISMATCH = 1, /* password does not match */
};

/* len bytes from the CSPRNG. 0 or PF_EIO. */
PF_MUST_CHECK int pf_auth_random(uint8_t *buf, size_t len);
/* base64url without padding; out needs (len * 4 + 2) / 3 + 1 bytes. Returns chars written. */
size_t pf_auth_b64url(const uint8_t *in, size_t len, char *out);
/* Decode; PF_EINVAL on a bad character or length, PF_ELIMIT when cap is short. */
PF_MUST_CHECK int pf_auth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                        size_t *outlen);
/* A new secret: prefix (may be "") then 43 base64url chars, NUL-terminated.
 * 0, PF_ELIMIT (cap), PF_EIO (no randomness). */
PF_MUST_CHECK int pf_auth_new_secret(const char *prefix, char *out, size_t cap);
/* SHA-256 of the secret's text. */
void pf_auth_digest(const char *secret, size_t len, uint8_t out[PF_AUTH_DIGEST_BYTES]);
/* base64url(HMAC-SHA256(key = session secret text, "propflow csrf")), NUL-terminated. */
void pf_auth_csrf(const char *session_secret, size_t len, char out[PF_AUTH_CSRF_CHARS + 1]);
/* Constant-time comparison of two NUL-terminated strings (time depends only on lengths). */
bool pf_auth_equal(const char *a, const char *b);

/* scrypt hash of a password, encoded '$scrypt$ln=L,r=8,p=1$salt$hash'.
 * 0, PF_EINVAL (password length 0 or over PF_AUTH_PASSWORD_MAX, log_n out of 10..20), PF_EIO. */
PF_MUST_CHECK int pf_auth_hash_password(const char *pw, size_t len, int log_n, char *out,
                                        size_t cap);
/* 0 match, PF_AUTH_MISMATCH, PF_EINVAL when stored is malformed or its
 * parameters are out of bounds (ln 10..20, r 1..16, p 1..4), PF_EIO. */
PF_MUST_CHECK int pf_auth_verify_password(const char *pw, size_t len, const char *stored);

/* A stored scrypt hash, decoded. */
#define PF_AUTH_SALT_BYTES 16
#define PF_AUTH_HASH_BYTES 32
typedef struct pf_auth_scrypt {
	int log_n;                        /* N = 2^log_n, 10..20 */
	int r;                            /* block size, 1..16 */
	int p;                            /* parallelism, 1..4 */
	uint8_t salt[PF_AUTH_SALT_BYTES]; /* random per hash */
	uint8_t hash[PF_AUTH_HASH_BYTES]; /* the derived key */
} pf_auth_scrypt;
/* Parse '$scrypt$ln=L,r=R,p=P$salt$hash' strictly (no leading zeros, exact
 * lengths, parameters within bounds). 0 or PF_EINVAL. */
PF_MUST_CHECK int pf_auth_parse_hash(const char *stored, pf_auth_scrypt *out);

/* The value of cookie `name` in a Cookie header (NULL header = none).
 * true and out set when present, non-empty and shorter than cap. */
bool pf_auth_cookie(const char *cookie_header, const char *name, char *out, size_t cap);
/* The credential of 'Authorization: Bearer X' (scheme case-insensitive,
 * spaces trimmed). true and out set when present and shorter than cap. */
bool pf_auth_bearer(const char *authorization, char *out, size_t cap);
/* A name is 1..64 of [A-Za-z0-9._@-]. */
bool pf_auth_name_valid(const char *name);

#endif
