/* auth.c - random tokens, hashes, constant-time compare, sealed refs. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/auth.h"

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
fill_random(unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);

		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int
ct_auth_token(const char *prefix, char *out)
{
	unsigned char raw[CT_SECRET_BYTES];
	size_t n = strlen(prefix);

	if (n > 16 || fill_random(raw, sizeof(raw)) != 0)
		return CT_EINTERNAL;
	memcpy(out, prefix, n);
	/* 24 bytes -> exactly 32 base64url characters, no padding */
	for (size_t i = 0; i < sizeof(raw); i += 3) {
		unsigned v = (unsigned)raw[i] << 16 |
			     (unsigned)raw[i + 1] << 8 | raw[i + 2];
		out[n++] = b64url[(v >> 18) & 63];
		out[n++] = b64url[(v >> 12) & 63];
		out[n++] = b64url[(v >> 6) & 63];
		out[n++] = b64url[v & 63];
	}
	out[n] = 0;
	OPENSSL_cleanse(raw, sizeof(raw));
	return CT_OK;
}

static void
to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int
from_hex(const char *in, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = in[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

void
ct_auth_hash_hex(const char *s, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	to_hex(md, sizeof(md), out);
}

void
ct_auth_hmac_hex(const char *key, const void *msg, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, mac,
		  &maclen) ||
	    maclen != SHA256_DIGEST_LENGTH) {
		out[0] = 0;
		return;
	}
	to_hex(mac, maclen, out);
}

int
ct_auth_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n != strlen(b))
		return 0;
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
ct_auth_key_app(const char *key, char *app, size_t applen)
{
	const char *dot = strchr(key, '.');
	size_t n;

	if (!dot)
		return -1;
	n = (size_t)(dot - key);
	if (n == 0 || n >= applen)
		return -1;
	memcpy(app, key, n);
	app[n] = 0;
	return 0;
}

/* key = sha256("crosstalk-ref" || ticket); each ticket seals one ref, so
 * a fixed nonce never repeats under one key. */
static void
ref_key(const char *ticket, unsigned char key[32])
{
	unsigned char buf[14 + CT_TOKEN_MAX];
	size_t n = strnlen(ticket, CT_TOKEN_MAX);

	memcpy(buf, "crosstalk-ref", 14); /* with its NUL: a separator */
	memcpy(buf + 14, ticket, n);
	SHA256(buf, 14 + n, key);
	OPENSSL_cleanse(buf, sizeof(buf));
}

#define TAG_LEN 16

int
ct_auth_seal_ref(const char *ticket, const char *ref, char **box)
{
	static const unsigned char nonce[12];
	unsigned char key[32], *ct = NULL;
	size_t n = strlen(ref);
	EVP_CIPHER_CTX *c = NULL;
	int len, rc = CT_EINTERNAL;
	char *hex = NULL;

	ref_key(ticket, key);
	if (!(ct = malloc(n + TAG_LEN)) ||
	    !(hex = malloc(2 * (n + TAG_LEN) + 1)))
		goto out;
	if (!(c = EVP_CIPHER_CTX_new()) ||
	    EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) !=
		    1 ||
	    EVP_EncryptUpdate(c, ct, &len, (const unsigned char *)ref,
			      (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, ct + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, ct + n) != 1)
		goto out;
	to_hex(ct, n + TAG_LEN, hex);
	*box = hex; /* caller owns */
	hex = NULL;
	rc = CT_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	free(ct);
	free(hex);
	return rc;
}

char *
ct_auth_open_ref(const char *ticket, const char *box)
{
	static const unsigned char nonce[12];
	unsigned char key[32], *ct = NULL;
	size_t hexlen = strlen(box), n;
	EVP_CIPHER_CTX *c = NULL;
	char *ref = NULL;
	int len, ok = 0;

	if (hexlen % 2 || hexlen / 2 < TAG_LEN)
		return NULL;
	n = hexlen / 2 - TAG_LEN;
	ref_key(ticket, key);
	if (!(ct = malloc(n + TAG_LEN)) || !(ref = malloc(n + 1)) ||
	    from_hex(box, ct, n + TAG_LEN) != 0)
		goto out;
	if (!(c = EVP_CIPHER_CTX_new()) ||
	    EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) !=
		    1 ||
	    EVP_DecryptUpdate(c, (unsigned char *)ref, &len, ct, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, ct + n) !=
		    1 ||
	    EVP_DecryptFinal_ex(c, (unsigned char *)ref + len, &len) != 1)
		goto out;
	ref[n] = 0;
	ok = 1;
out:
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	free(ct);
	if (!ok) {
		free(ref);
		ref = NULL;
	}
	return ref; /* caller owns */
}
