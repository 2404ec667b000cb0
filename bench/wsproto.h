/* wsproto.h - the few pieces of RFC 6455 the benchmark programs need:
 * base64, the handshake accept value, frame headers, masking. */
#ifndef CT_BENCH_WSPROTO_H
#define CT_BENCH_WSPROTO_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT  0x0
#define WS_OP_TEXT  0x1
#define WS_OP_BIN   0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING  0x9
#define WS_OP_PONG  0xA

/* base64 (standard alphabet, padded) of n bytes into out; returns length.
 * out needs 4 * ((n + 2) / 3) + 1 bytes. */
size_t ws_b64(const unsigned char *in, size_t n, char *out);

/* Sec-WebSocket-Accept for key: base64(sha1(key + GUID)) into out[29]. */
void ws_accept(const char *key, char *out);

/* Writes a frame header for a payload of len bytes into hdr (up to 14
 * bytes) and returns its size. mask: 4 bytes to mask with, or NULL. */
size_t ws_header(unsigned char *hdr, int opcode, uint64_t len,
		 const unsigned char *mask);

/* XOR data with mask, starting at offset off of the payload. */
void ws_mask(unsigned char *data, size_t n, const unsigned char mask[4],
	     size_t off);

/* A parsed frame header. Returns header size, 0 when more bytes are
 * needed, -1 on a malformed header. */
struct ws_frame {
	int fin, opcode, masked;
	uint64_t len;
	unsigned char mask[4];
};
int ws_parse_header(const unsigned char *p, size_t n, struct ws_frame *f);

/* Case-insensitive search for an HTTP header's value in a response or
 * request head (NUL-terminated). Copies at most outlen-1 bytes; 0 or -1. */
int ws_header_value(const char *head, const char *name, char *out,
		    size_t outlen);

#endif /* CT_BENCH_WSPROTO_H */
