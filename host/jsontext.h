/*
** jsontext.h
** JSON text (RFC 8259) in plain C, for json.* and the proto3 JSON mapping:
** an output buffer and its writers (strings escaped and checked as UTF-8,
** integers, doubles and floats in the shortest text that reads back the same,
** base64), and a reader that walks a text value by value and says where each
** error is. No Lua here.
**
** Writers reserve the worst case once and then write unchecked. They return
** JT_OK or a negative JT_ code; the buffer keeps what was written before.
*/
#ifndef jsontext_h
#define jsontext_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
  JT_OK = BUF_OK,
  JT_NOMEM = BUF_NOMEM,     /* realloc failed */
  JT_TOOBIG = BUF_TOOBIG,   /* the text would pass the buffer's limit */
  JT_BADUTF8 = -3,   /* a string is not UTF-8 */
};

/* "s", escaped. JT_BADUTF8 sets *bad to the offset in s of the first byte that is not UTF-8. */
int jt_put_string(buf *b, const char *s, size_t len, size_t *bad);
int jt_put_int(buf *b, int64_t v);
int jt_put_uint(buf *b, uint64_t v);
/*
** A finite double as text that reads back as it: a decimal of up to 8 places
** when it is one, else the shortest of 15, 16 or 17 significant digits; ".0"
** ends one that would read as an integer.
*/
int jt_put_double(buf *b, double d);
/* A finite float in the fewest digits (6 to 9) that read back as that float (protobuf's float fields). */
int jt_put_float(buf *b, float f);
/* "base64" of len bytes: the standard alphabet with padding. */
int jt_put_base64(buf *b, const char *s, size_t len);
/* The same without the quotes: base64 text for other than JSON (HTTP headers, gRPC-Web's text). */
int jt_put_base64_bare(buf *b, const char *s, size_t len);

/* Length of the UTF-8 sequence at s, n bytes available (its lead byte is 0x80 or more), 0 when it is not one. */
size_t jt_utf8_seq(const unsigned char *s, size_t n);

/* Whether len bytes at s are UTF-8 (no surrogates, nothing above U+10FFFF, no overlong form). */
bool jt_utf8_valid(const char *s, size_t len, size_t *bad);

/*
** Decodes base64 (standard or URL-safe alphabet, padded or not) into out,
** which has room for len * 3 / 4 + 3 bytes. Returns the decoded length, or -1.
*/
long jt_base64_decode(const char *s, size_t len, char *out);

/*
** {======================================================
** Reading
** =======================================================
*/

typedef struct jt_reader {
  const char *start, *p, *end;
  char *err;                 /* the error message goes here */
  size_t errlen;
} jt_reader;

/* A number as the text has it; integral: no fraction, no exponent. */
typedef struct jt_number {
  const char *text;
  size_t len;
  bool integral;
} jt_number;

enum { JT_NOT_INTEGER = -4, JT_RANGE = -5 };

void jt_reader_init(jt_reader *r, const char *text, size_t len, char *err, size_t errlen);

/*
** Writes "<reason> at character N (line L, column C)" for position at into
** the reader's err and returns -1. Characters and columns count code points,
** from 1.
*/
int jt_fail(jt_reader *r, const char *at, const char *fmt, ...);
/* "expected <what>, got <what is at p>" at p. */
int jt_fail_expected(jt_reader *r, const char *what);

/* The next byte after white space, which p then points at; -1 at the end. */
static inline int jt_peek(jt_reader *r) {
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p;
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return c;
    r->p++;
  }
  return -1;
}

/* Steps over c after white space, or fails naming what was expected. */
int jt_expect(jt_reader *r, char c, const char *what);

/*
** The string at p (at its opening quote). *s points into the text when it
** holds no escape, else into scratch (grown to the rest of the text at most).
*/
int jt_read_string(jt_reader *r, buf *scratch, const char **s, size_t *len);
int jt_read_number(jt_reader *r, jt_number *n);
/* true, false or null at p: 1, 0 or -1 in *which. */
int jt_read_literal(jt_reader *r, int *which);
/* Steps over one value, nested at most depth_left levels. */
int jt_skip_value(jt_reader *r, buf *scratch, int depth_left);

/* Length of the JSON number at the start of s (grammar only), 0 if there is none. */
size_t jt_scan_number(const char *s, size_t len, bool *integral);
/*
** The exact integer a JSON number stands for, exponent and fraction allowed
** when its value is whole ("1e3", "5.0"): sign and magnitude. JT_NOT_INTEGER,
** JT_RANGE (magnitude above 2^64 - 1).
*/
int jt_number_integer(const char *s, size_t len, bool *negative, uint64_t *magnitude);
/* The double nearest to the number (an infinity when it is too large). */
double jt_number_double(const char *s, size_t len);

/* }====================================================== */

#endif
