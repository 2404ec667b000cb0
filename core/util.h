/* util.h - small helpers shared by every program: strict number parsing,
 * clocks, names and UTF-8 validation. */
#ifndef CT_UTIL_H
#define CT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Whole decimal number in [min,max], surrounding blanks allowed; 0 or -1. */
int ct_parse_long(const char *s, long min, long max, long *out);
int64_t ct_now_ms(void);  /* wall clock, ms since the epoch */
int64_t ct_mono_ms(void); /* monotonic, ms */
int64_t ct_mono_us(void); /* monotonic, us (durations for metrics) */
/* FNV-1a of the n bytes at s: for the hash tables' buckets. */
unsigned ct_hash(const char *s, size_t n);

/* App id [a-z0-9][a-z0-9_-]{0,31}. */
int ct_valid_app_id(const char *s);
/* A user id: valid UTF-8, 1-128 characters, none of them ':' or a
 * control character (C0, DEL, C1). n bytes at s. */
int ct_valid_user_id(const char *s, size_t n);
/* Channel [a-z0-9][a-z0-9_.-]{0,63}, or dm:<a>:<b> with a < b (bytewise,
 * which for UTF-8 is code point order), each a valid user id. */
int ct_valid_channel(const char *s);
/* For dm:<a>:<b>: 1 if user_id is a or b, 0 if not, -1 if not a DM. */
int ct_dm_member(const char *channel, const char *user_id);
/* Build "dm:<lo>:<hi>" into out; 0, or -1 if it does not fit or an id
 * holds ':'. */
int ct_dm_name(const char *a, const char *b, char *out, size_t outlen);

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no NUL.
 * Returns the number of code points, or -1. */
long ct_utf8_count(const char *s, size_t len);

#endif /* CT_UTIL_H */
