/*
 * cursor.c - sealed paging cursors (see cursor.h): AES-256-GCM from
 * libcrypto, and a strict base64url so that one cursor has one spelling.
 */
#include "propflow/api/cursor.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define CURSOR_NONCE 12
#define CURSOR_PLAIN 24
#define CURSOR_TAG   16

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void pf_cursor_put64(uint8_t *p, int64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)((uint64_t)v & 0xff);
		v = (int64_t)((uint64_t)v >> 8);
	}
}

int64_t pf_cursor_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

static void encode64(const uint8_t *in, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64[(acc << (6 - bits)) & 63];
	out[o] = 0;
}

static int value64(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Exactly n bytes from text, or PF_EINVAL; the bits left over in the last
 * character must be zero (else one cursor would have several spellings). */
static int decode64(const char *text, uint8_t *out, size_t n)
{
	size_t want = (n * 8 + 5) / 6;
	if (strlen(text) != want)
		return PF_EINVAL;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < want; i++) {
		int v = value64(text[i]);
		if (v < 0)
			return PF_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	return o == n && acc == 0 ? 0 : PF_EINVAL;
}

int pf_cursor_seal(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                   const uint8_t *plain, size_t len, char *out, size_t cap)
{
	size_t total = CURSOR_NONCE + len + CURSOR_TAG;
	if (len > PF_CURSOR_PLAIN_MAX || cap < (total * 8 + 5) / 6 + 1)
		return PF_ELIMIT;
	uint8_t sealed[CURSOR_NONCE + PF_CURSOR_PLAIN_MAX + CURSOR_TAG];
	uint8_t aad = (uint8_t)kind;
	int rc = PF_EIO, n = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx && RAND_bytes(sealed, CURSOR_NONCE) == 1 &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, &aad, 1) == 1 &&
	    EVP_EncryptUpdate(ctx, sealed + CURSOR_NONCE, &n, plain, (int)len) == 1 &&
	    (size_t)n == len && EVP_EncryptFinal_ex(ctx, sealed + CURSOR_NONCE + len, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CURSOR_TAG,
	                        sealed + CURSOR_NONCE + len) == 1) {
		encode64(sealed, total, out);
		rc = 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int pf_cursor_open(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind, const char *text,
                   uint8_t *plain, size_t cap, size_t *len)
{
	uint8_t sealed[CURSOR_NONCE + PF_CURSOR_PLAIN_MAX + CURSOR_TAG];
	uint8_t aad = (uint8_t)kind;
	size_t chars = text ? strlen(text) : 0;
	/* the byte count whose base64url is exactly that many characters */
	size_t total = chars * 6 / 8;
	if (!text || total < CURSOR_NONCE + CURSOR_TAG || total > sizeof(sealed) ||
	    total - CURSOR_NONCE - CURSOR_TAG > cap || decode64(text, sealed, total) != 0)
		return PF_EINVAL;
	size_t plen = total - CURSOR_NONCE - CURSOR_TAG;
	int ok = 0, n = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, &aad, 1) == 1 &&
	    EVP_DecryptUpdate(ctx, plain, &n, sealed + CURSOR_NONCE, (int)plen) == 1 &&
	    (size_t)n == plen &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CURSOR_TAG,
	                        sealed + CURSOR_NONCE + plen) == 1 &&
	    EVP_DecryptFinal_ex(ctx, plain + plen, &n) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return PF_EINVAL;
	*len = plen;
	return 0;
}

int pf_cursor_encode(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                     const pf_cursor *c, char *out, size_t cap)
{
	if (cap < PF_CURSOR_CHARS + 1)
		return PF_ELIMIT;
	uint8_t plain[CURSOR_PLAIN];
	pf_cursor_put64(plain, c->job);
	pf_cursor_put64(plain + 8, c->gen);
	pf_cursor_put64(plain + 16, c->pos);
	return pf_cursor_seal(key, kind, plain, sizeof(plain), out, cap);
}

int pf_cursor_decode(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind, const char *text,
                     pf_cursor *c)
{
	uint8_t plain[PF_CURSOR_PLAIN_MAX];
	size_t len = 0;
	if (!text || strlen(text) != PF_CURSOR_CHARS ||
	    pf_cursor_open(key, kind, text, plain, sizeof(plain), &len) != 0 || len != CURSOR_PLAIN)
		return PF_EINVAL;
	pf_cursor v = {pf_cursor_get64(plain), pf_cursor_get64(plain + 8),
	               pf_cursor_get64(plain + 16)};
	if (v.job < 1 || v.gen < 0 || v.pos < 0)
		return PF_EINVAL;
	*c = v;
	return 0;
}
