/* jscan.h — a validating, allocation-free JSON scanner.
 *
 * ms_json_scan checks that a text is exactly one JSON value (RFC 8259:
 * strict numbers, no control characters in strings, only the standard
 * escapes; bytes of 0x80 and above are taken as they are, as cJSON takes
 * them — the host's UTF-8 decoder replaces invalid sequences), nested at
 * most MS_JSON_MAX_DEPTH deep (cJSON's limit), and says where things are.
 * It never allocates and never writes outside what it is given.
 *
 * Ownership: a span (ms_jspan) points into the caller's text and is valid
 * only as long as that text. Every function except ms_json_scan requires a
 * span that ms_json_scan validated (or a part of one that these functions
 * returned): they rely on the text being well-formed. */
#ifndef MS_JSCAN_H
#define MS_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define MS_JSON_MAX_DEPTH 1000

/* What a span holds (its first byte tells it, too). */
enum {
  MS_JT_NONE = 0, /* absent */
  MS_JT_OBJECT,
  MS_JT_ARRAY,
  MS_JT_STRING, /* the span includes the quotes */
  MS_JT_NUMBER,
  MS_JT_TRUE,
  MS_JT_FALSE,
  MS_JT_NULL
};

typedef struct ms_jspan {
  const char *p;
  size_t n;
  int type; /* MS_JT_* */
} ms_jspan;

/* What ms_json_scan found in the text's strings (OR'ed into *flags). */
#define MS_JSON_ESCAPES 1u   /* at least one backslash escape */
#define MS_JSON_SURROGATE 2u /* an escape of a UTF-16 surrogate, \uD800-\uDFFF */
#define MS_JSON_NUL 4u       /* the escape \u0000 */

/* Called for each member of the top-level object, in order, with the key
 * (a string span, quotes included) and the value, both validated. */
typedef void (*ms_json_member_fn)(void *user, const ms_jspan *key, const ms_jspan *value);

/* Returns 1 when text[0..n) is exactly one JSON value with optional
 * whitespace around it, else 0. On 1, *value (when not NULL) spans the
 * value without the whitespace, and *flags (when not NULL) gets the
 * MS_JSON_* bits of its strings. When the value is an object and fn is not
 * NULL, fn is called for each of its members as the scan passes them (also
 * when the text turns out invalid later on: the caller keeps nothing from
 * those calls unless 1 is returned). */
int ms_json_scan(const char *text, size_t n, ms_jspan *value, unsigned *flags,
                 ms_json_member_fn fn, void *user);

/* Walks the elements of a validated array or the members of a validated
 * object, in order. */
typedef struct ms_jiter {
  const char *p;
  size_t n, i;
} ms_jiter;
void ms_json_iter(const ms_jspan *container, ms_jiter *it);
/* The next element (key NULL or left NONE for arrays) or member; 0 at the end. */
int ms_json_next(ms_jiter *it, ms_jspan *key, ms_jspan *value);

/* In validated text p[0..n): the index of the first byte at or after i that
 * is not JSON whitespace, and the index after the value that starts at p[i]
 * (a string, number, literal, or a whole object or array). */
size_t ms_json_skip_ws(const char *p, size_t n, size_t i);
size_t ms_json_skip(const char *p, size_t n, size_t i);

/* The value of the first member of a validated object whose key, decoded,
 * is `key` (a NUL-terminated string). 1 and *value, or 0 (value NONE). */
int ms_json_member(const ms_jspan *object, const char *key, ms_jspan *value);

/* 1 when the validated string span, decoded, equals lit[0..strlen(lit)). */
int ms_json_str_eq(const ms_jspan *s, const char *lit);

/* Decodes a validated string span into out[0..cap) as UTF-8 (a lone
 * surrogate becomes U+FFFD, as the core's parser makes it; no NUL is
 * added). Returns the decoded length, which may exceed cap (then out holds
 * its first cap bytes). */
size_t ms_json_str_decode(const ms_jspan *s, char *out, size_t cap);

/* The value of a number span as a double (strtod's), or NaN for another type. */
double ms_json_number(const ms_jspan *num);

#endif
