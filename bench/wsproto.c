/* wsproto.c - see wsproto.h. SHA-1 comes from libcrypto. */
#include "wsproto.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
ws_b64(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
			     in[i + 2];
		out[o++] = b64tab[(v >> 18) & 63];
		out[o++] = b64tab[(v >> 12) & 63];
		out[o++] = b64tab[(v >> 6) & 63];
		out[o++] = b64tab[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		out[o++] = b64tab[(v >> 18) & 63];
		out[o++] = b64tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

void
ws_accept(const char *key, char *out)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	out[0] = 0;
	if (!c)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(c, key, strlen(key)) == 1 &&
	    EVP_DigestUpdate(c, guid, sizeof(guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 20)
		ws_b64(md, 20, out);
	EVP_MD_CTX_free(c);
}

size_t
ws_header(unsigned char *hdr, int opcode, uint64_t len,
	  const unsigned char *mask)
{
	size_t n = 0;
	unsigned char m = mask ? 0x80 : 0;

	hdr[n++] = (unsigned char)(0x80 | (opcode & 15));
	if (len < 126) {
		hdr[n++] = (unsigned char)(m | len);
	} else if (len < 65536) {
		hdr[n++] = m | 126;
		hdr[n++] = (unsigned char)(len >> 8);
		hdr[n++] = (unsigned char)len;
	} else {
		hdr[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			hdr[n++] = (unsigned char)(len >> (8 * i));
	}
	if (mask) {
		memcpy(hdr + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(unsigned char *data, size_t n, const unsigned char mask[4], size_t off)
{
	for (size_t i = 0; i < n; i++)
		data[i] ^= mask[(off + i) & 3];
}

int
ws_parse_header(const unsigned char *p, size_t n, struct ws_frame *f)
{
	size_t need = 2;
	uint64_t len;

	if (n < 2)
		return 0;
	if (p[0] & 0x70)
		return -1; /* no extensions negotiated: RSV bits must be 0 */
	f->fin = p[0] >> 7;
	f->opcode = p[0] & 15;
	f->masked = p[1] >> 7;
	len = p[1] & 127;
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (f->masked)
		need += 4;
	if (n < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)p[2] << 8 | p[3];
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 62)
			return -1;
	}
	f->len = len;
	if (f->masked)
		memcpy(f->mask, p + need - 4, 4);
	if (f->opcode >= 8 && (len > 125 || !f->fin))
		return -1; /* control frames are short and whole */
	return (int)need;
}

int
ws_header_value(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] && !(p[2] == '\r' && p[3] == '\n')) {
		const char *line = p + 2;
		p = strstr(line, "\r\n");
		if (!p)
			return -1;
		if ((size_t)(p - line) > nl && line[nl] == ':' &&
		    strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1;
			size_t k = 0;
			while (v < p && (*v == ' ' || *v == '\t'))
				v++;
			while (v < p && k + 1 < outlen)
				out[k++] = *v++;
			while (k > 0 && isspace((unsigned char)out[k - 1]))
				k--;
			out[k] = 0;
			return 0;
		}
	}
	return -1;
}
