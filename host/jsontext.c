/*
** jsontext.c
** JSON text in plain C: writers into a buf, a reader over a text, numbers,
** UTF-8 and base64. See jsontext.h.
**
** Numbers are written and read with snprintf/strtod in the C locale (the
** host never calls setlocale). Strings are scanned eight bytes at a time
** while they hold nothing to escape or check.
*/
#include "jsontext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
** {======================================================
** Buffer
** =======================================================
*/

/* }====================================================== */

/*
** {======================================================
** UTF-8 and strings
** =======================================================
*/

size_t jt_utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  size_t need;
  if (c < 0xC2) return 0;                 /* continuation byte, or overlong */
  if (c < 0xE0) need = 1;
  else if (c < 0xF0) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;             /* overlong */
    if (c == 0xED) hi = 0x9F;             /* surrogates */
  } else if (c < 0xF5) {
    need = 3;
    if (c == 0xF0) lo = 0x90;             /* overlong */
    if (c == 0xF4) hi = 0x8F;             /* above U+10FFFF */
  } else return 0;
  if (n <= need || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k <= need; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  return need + 1;
}

#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

/* Eight bytes of a string that need nothing: ASCII, no control character, no '"', no '\\'. */
static inline bool plain8(const unsigned char *s) {
  uint64_t w, q, bs;
  memcpy(&w, s, 8);
  q = w ^ (ONES * '"');
  bs = w ^ (ONES * '\\');
  return ((w | ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS) == 0;
}

/* Whether the len (under 8) bytes at p are ASCII: two loads that may overlap, or bytes. */
static bool short_ascii(const unsigned char *p, size_t len) {
  if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + len - 4, 4);
    return ((a | b) & 0x80808080u) == 0;
  }
  unsigned char c = 0;
  for (size_t i = 0; i < len; i++) c |= p[i];
  return c < 0x80;
}

bool jt_utf8_valid(const char *s, size_t len, size_t *bad) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  if (len < 8 && short_ascii(p, len)) return true;
  while (p < end) {
    uint64_t w;
    size_t n;
    if (end - p >= 8) {
      memcpy(&w, p, 8);
      if ((w & HIGHS) == 0) {
        p += 8;
        continue;
      }
    } else if (len >= 8) {          /* the tail, as the last 8 bytes: all ASCII ends it */
      memcpy(&w, end - 8, 8);
      if ((w & HIGHS) == 0) return true;
    }
    if (*p < 0x80) {
      p++;
      continue;
    }
    if ((n = jt_utf8_seq(p, (size_t)(end - p))) == 0) {
      if (bad) *bad = (size_t)(p - (const unsigned char *)s);
      return false;
    }
    p += n;
  }
  return true;
}

/* What a byte below 0x80 becomes in a string: 0 itself, else the letter after '\\' (u: \u00XX). */
static const char escapes[128] = {
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
  0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
};

static const char hex_digits[] = "0123456789abcdef";

/* Bytes s becomes between its quotes: for a reservation near the buffer's limit. */
static size_t escaped_len(const unsigned char *s, size_t len) {
  size_t n = len;
  for (size_t i = 0; i < len; i++)
    if (s[i] < 0x80 && escapes[s[i]]) n += escapes[s[i]] == 'u' ? 5 : 1;
  return n;
}

int jt_put_string(buf *b, const char *str, size_t len, size_t *bad) {
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  unsigned char *o;
  int rc = len < (SIZE_MAX - 2) / 6 ? buf_reserve(b, len * 6 + 2) : JT_NOMEM;
  if (rc != JT_OK && (rc = buf_reserve(b, escaped_len(s, len) + 2)) != JT_OK) return rc;
  o = (unsigned char *)b->data + b->len;
  *o++ = '"';
  while (s < end) {
    size_t n;
    if (end - s >= 8 && plain8(s)) {
      memcpy(o, s, 8);
      o += 8;
      s += 8;
      continue;
    }
    if (*s < 0x80) {
      char e = escapes[*s];
      if (!e) *o++ = *s;
      else if (e != 'u') {
        *o++ = '\\';
        *o++ = (unsigned char)e;
      } else {
        memcpy(o, "\\u00", 4);
        o[4] = (unsigned char)hex_digits[*s >> 4];
        o[5] = (unsigned char)hex_digits[*s & 15];
        o += 6;
      }
      s++;
      continue;
    }
    if ((n = jt_utf8_seq(s, (size_t)(end - s))) == 0) {
      if (bad) *bad = (size_t)(s - (const unsigned char *)str);
      return JT_BADUTF8;
    }
    memcpy(o, s, n);
    o += n;
    s += n;
  }
  *o++ = '"';
  b->len = (size_t)(o - (unsigned char *)b->data);
  return JT_OK;
}

/* }====================================================== */

/*
** {======================================================
** Numbers
** =======================================================
*/

int jt_put_uint(buf *b, uint64_t v) {
  char tmp[20];
  int n = 0, rc = buf_reserve(b, 20);
  if (rc != JT_OK) return rc;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) b->data[b->len++] = tmp[--n];
  return JT_OK;
}

int jt_put_int(buf *b, int64_t v) {
  int rc;
  if (v >= 0) return jt_put_uint(b, (uint64_t)v);
  if ((rc = buf_putc(b, '-')) != JT_OK) return rc;
  return jt_put_uint(b, -(uint64_t)v);
}

/* Appends the n characters of tmp, and ".0" when they read as an integer. */
static int put_number_text(buf *b, const char *tmp, int n) {
  bool integral = true;
  int rc;
  for (int i = 0; i < n && integral; i++) integral = tmp[i] == '-' || (tmp[i] >= '0' && tmp[i] <= '9');
  if ((rc = buf_put(b, tmp, (size_t)n)) != JT_OK || !integral) return rc;
  return buf_put(b, ".0", 2);
}

/*
** d as n / 10^k with k from 1 to 8 and n below 2^53, k as small as it can be:
** then n and 10^k are exact and their quotient, rounded as IEEE division
** rounds, is d, just as strtod rounds the decimal "n / 10^k" to d. Prices,
** coordinates and measures are such numbers; they skip snprintf.
*/
static bool short_decimal(double a, uint64_t *n, int *k) {
  static const double powers[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  if (!(a >= 1e-4 && a < 1e15)) return false;
  for (int i = 1; i <= 8; i++) {
    double scaled = a * powers[i], r;
    if (scaled >= 9007199254740992.0) return false;
    r = floor(scaled + 0.5);
    if (r / powers[i] == a) {
      *n = (uint64_t)r;
      *k = i;
      return true;
    }
  }
  return false;
}

/* Appends n / 10^k in fixed notation, k digits after the point. */
static int put_fixed(buf *b, bool negative, uint64_t n, int k) {
  uint64_t scale = 1;
  char *o;
  int rc = buf_reserve(b, 32);
  if (rc != JT_OK) return rc;
  for (int i = 0; i < k; i++) scale *= 10;
  if (negative) b->data[b->len++] = '-';
  if ((rc = jt_put_uint(b, n / scale)) != JT_OK) return rc;
  o = b->data + b->len;
  *o = '.';
  for (int i = k; i > 0; i--, n /= 10) o[i] = (char)('0' + n % 10);
  b->len += (size_t)k + 1;
  return JT_OK;
}

int jt_put_double(buf *b, double d) {
  char tmp[40];
  int n = 0, k;
  uint64_t digits;
  if (fabs(d) < 1e15 && d == (double)(int64_t)d && (d != 0 || !signbit(d))) {
    int rc = jt_put_int(b, (int64_t)d);   /* the usual cases, without snprintf */
    return rc != JT_OK ? rc : buf_put(b, ".0", 2);
  }
  if (short_decimal(fabs(d), &digits, &k)) return put_fixed(b, d < 0, digits, k);
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  return put_number_text(b, tmp, n);
}

int jt_put_float(buf *b, float f) {
  char tmp[40];
  int n = 0;
  for (int prec = 6; prec <= 9; prec++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
    if (strtof(tmp, NULL) == f) break;
  }
  return put_number_text(b, tmp, n);
}

size_t jt_scan_number(const char *s, size_t len, bool *integral) {
  size_t i = 0;
  *integral = true;
  if (i < len && s[i] == '-') i++;
  if (i >= len || s[i] < '0' || s[i] > '9') return 0;
  if (s[i] == '0') i++;
  else while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  if (i < len && s[i] == '.') {
    *integral = false;
    if (++i >= len || s[i] < '0' || s[i] > '9') return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    *integral = false;
    if (++i < len && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= len || s[i] < '0' || s[i] > '9') return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  }
  return i;
}

int jt_number_integer(const char *s, size_t len, bool *negative, uint64_t *magnitude) {
  const char *digits[2];   /* integer part, fraction */
  size_t n[2] = {0, 0}, i = 0, total, first, last;
  long exp = 0;
  uint64_t m = 0;
  *negative = len > 0 && s[0] == '-';
  i = *negative;
  digits[0] = s + i;
  while (i < len && s[i] >= '0' && s[i] <= '9') i++, n[0]++;
  digits[1] = s + i + 1;
  if (i < len && s[i] == '.')
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) n[1]++;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    bool neg = ++i < len && s[i] == '-';
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
      if (exp < 100000) exp = exp * 10 + (s[i] - '0');
    if (neg) exp = -exp;
  }
  /* The digits d[0..total) of both parts; value = d * 10^(exp - n[1]). */
#define DIGIT(k) ((k) < n[0] ? digits[0][k] : digits[1][(k) - n[0]])
  total = n[0] + n[1];
  for (first = 0; first < total && DIGIT(first) == '0'; first++) {}
  *magnitude = 0;
  if (first == total) return JT_OK;   /* zero */
  exp -= (long)n[1];
  for (last = total; DIGIT(last - 1) == '0'; last--) exp++;
  if (exp < 0) return JT_NOT_INTEGER;
  if ((long)(last - first) + exp > 20) return JT_RANGE;
  for (size_t k = first; k < last; k++) {
    unsigned d = (unsigned)(DIGIT(k) - '0');
    if (m > (UINT64_MAX - d) / 10) return JT_RANGE;
    m = m * 10 + d;
  }
#undef DIGIT
  for (; exp > 0; exp--) {
    if (m > UINT64_MAX / 10) return JT_RANGE;
    m *= 10;
  }
  *magnitude = m;
  return JT_OK;
}

double jt_number_double(const char *s, size_t len) {
  char local[128], *tmp = local;
  double d;
  if (len >= sizeof local && (tmp = malloc(len + 1)) == NULL) return NAN;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  d = strtod(tmp, NULL);
  if (tmp != local) free(tmp);
  return d;
}

/* }====================================================== */

/*
** {======================================================
** Base64
** =======================================================
*/

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int jt_put_base64_bare(buf *b, const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  char *o;
  size_t i = 0;
  int rc = len < SIZE_MAX / 2 ? buf_reserve(b, (len + 2) / 3 * 4) : JT_NOMEM;
  if (rc != JT_OK) return rc;
  o = b->data + b->len;
  for (; len - i >= 3; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    o[0] = b64_alphabet[v >> 18];
    o[1] = b64_alphabet[v >> 12 & 63];
    o[2] = b64_alphabet[v >> 6 & 63];
    o[3] = b64_alphabet[v & 63];
    o += 4;
  }
  if (len - i > 0) {
    uint32_t v = (uint32_t)s[i] << 16 | (len - i > 1 ? (uint32_t)s[i + 1] << 8 : 0);
    o[0] = b64_alphabet[v >> 18];
    o[1] = b64_alphabet[v >> 12 & 63];
    o[2] = len - i > 1 ? b64_alphabet[v >> 6 & 63] : '=';
    o[3] = '=';
    o += 4;
  }
  b->len = (size_t)(o - b->data);
  return JT_OK;
}

int jt_put_base64(buf *b, const char *str, size_t len) {
  int rc = buf_putc(b, '"');
  if (rc == JT_OK) rc = jt_put_base64_bare(b, str, len);
  return rc == JT_OK ? buf_putc(b, '"') : rc;
}

/* Value of a base64 digit of either alphabet, or -1. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

long jt_base64_decode(const char *str, size_t len, char *out) {
  const unsigned char *s = (const unsigned char *)str;
  size_t pad = 0, n, i;
  uint32_t acc = 0;
  long o = 0;
  while (pad < 2 && len > pad && s[len - 1 - pad] == '=') pad++;
  n = len - pad;
  if (n % 4 == 1 || (pad > 0 && len % 4 != 0)) return -1;
  for (i = 0; i < n; i++) {
    int v = b64_value(s[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    if (i % 4 == 3) {
      out[o++] = (char)(acc >> 16);
      out[o++] = (char)(acc >> 8);
      out[o++] = (char)acc;
      acc = 0;
    }
  }
  if (n % 4 == 2) out[o++] = (char)(acc >> 4);
  if (n % 4 == 3) {
    out[o++] = (char)(acc >> 10);
    out[o++] = (char)(acc >> 2);
  }
  return o;
}

/* }====================================================== */

/*
** {======================================================
** Reader
** =======================================================
*/

void jt_reader_init(jt_reader *r, const char *text, size_t len, char *err, size_t errlen) {
  r->start = r->p = text;
  r->end = text + len;
  r->err = err;
  r->errlen = errlen;
}

int jt_fail(jt_reader *r, const char *at, const char *fmt, ...) {
  size_t chars = 1, line = 1, column = 1, n;
  va_list ap;
  if (r->errlen == 0) return -1;
  for (const char *q = r->start; q < at && q < r->end; q++) {
    if ((*q & 0xC0) == 0x80) continue;   /* a continuation byte: same character */
    chars++;
    column++;
    if (*q == '\n') {
      line++;
      column = 1;
    }
  }
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
  n = strlen(r->err);
  snprintf(r->err + n, r->errlen - n, " at character %zu (line %zu, column %zu)", chars, line,
           column);
  return -1;
}

int jt_fail_expected(jt_reader *r, const char *what) {
  unsigned char c = r->p < r->end ? (unsigned char)*r->p : 0;
  if (r->p >= r->end) return jt_fail(r, r->p, "expected %s, got the end of the text", what);
  if (c >= 0x20 && c < 0x7F) return jt_fail(r, r->p, "expected %s, got '%c'", what, c);
  return jt_fail(r, r->p, "expected %s, got byte 0x%02x", what, c);
}

int jt_expect(jt_reader *r, char c, const char *what) {
  if (jt_peek(r) != (unsigned char)c) return jt_fail_expected(r, what);
  r->p++;
  return 0;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v << 4 | d;
  }
  return v;
}

static unsigned char *put_utf8(unsigned char *o, uint32_t cp) {
  if (cp < 0x80) *o++ = (unsigned char)cp;
  else if (cp < 0x800) {
    *o++ = (unsigned char)(0xC0 | cp >> 6);
    *o++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (unsigned char)(0xE0 | cp >> 12);
    *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    *o++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (unsigned char)(0xF0 | cp >> 18);
    *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    *o++ = (unsigned char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/*
** The escape at p (its backslash) written at *o: returns the byte after it,
** or NULL having failed. A \u escape of a surrogate must be a high one
** followed by a low one: a lone surrogate is not text, so it is an error.
*/
static const unsigned char *unescape(jt_reader *r, const unsigned char *p, unsigned char **o) {
  const unsigned char *end = (const unsigned char *)r->end;
  int cp, lo;
  if (end - p < 2) return jt_fail(r, (const char *)p, "unfinished escape in a string"), NULL;
  switch (p[1]) {
    case '"': case '\\': case '/': *(*o)++ = p[1]; return p + 2;
    case 'b': *(*o)++ = '\b'; return p + 2;
    case 'f': *(*o)++ = '\f'; return p + 2;
    case 'n': *(*o)++ = '\n'; return p + 2;
    case 'r': *(*o)++ = '\r'; return p + 2;
    case 't': *(*o)++ = '\t'; return p + 2;
    case 'u': break;
    default:
      return jt_fail(r, (const char *)p, "invalid escape '\\%c' in a string",
                     p[1] >= 0x20 && p[1] < 0x7F ? p[1] : '?'), NULL;
  }
  if (end - p < 6 || (cp = hex4(p + 2)) < 0)
    return jt_fail(r, (const char *)p, "expected four hex digits after '\\u'"), NULL;
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return jt_fail(r, (const char *)p, "lone low surrogate \\u%04x in a string", cp), NULL;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0xDC00 || lo > 0xDFFF)
      return jt_fail(r, (const char *)p, "lone high surrogate \\u%04x in a string", cp), NULL;
    *o = put_utf8(*o, 0x10000 + ((uint32_t)(cp - 0xD800) << 10) + (uint32_t)(lo - 0xDC00));
    return p + 12;
  }
  *o = put_utf8(*o, (uint32_t)cp);
  return p + 6;
}

/*
** One step through a string at p: 1 past the closing quote (*p on it), 0
** when *p is a backslash, -1 having failed; ordinary bytes are copied to *o
** when o is not NULL.
*/
static int scan_string(jt_reader *r, const unsigned char **pp, unsigned char **o) {
  const unsigned char *p = *pp, *end = (const unsigned char *)r->end;
  int rc;
  for (;;) {
    size_t n;
    while (end - p >= 8 && plain8(p)) {
      if (o) {
        memcpy(*o, p, 8);
        *o += 8;
      }
      p += 8;
    }
    if (p >= end) {
      rc = jt_fail(r, (const char *)p, "unfinished string");
      break;
    }
    if (*p == '"' || *p == '\\') {
      rc = *p == '"';
      break;
    }
    if (*p < 0x20) {
      rc = jt_fail(r, (const char *)p, "control character 0x%02x in a string (escape it)", *p);
      break;
    }
    n = *p < 0x80 ? 1 : jt_utf8_seq(p, (size_t)(end - p));
    if (n == 0) {
      rc = jt_fail(r, (const char *)p, "invalid UTF-8 in a string");
      break;
    }
    if (o) {
      memcpy(*o, p, n);
      *o += n;
    }
    p += n;
  }
  *pp = p;
  return rc;
}

int jt_read_string(jt_reader *r, buf *scratch, const char **s, size_t *len) {
  const unsigned char *start = (const unsigned char *)r->p + 1, *p = start;
  unsigned char *o, *base;
  int rc = scan_string(r, &p, NULL);
  if (rc < 0) return -1;
  if (rc == 1) {   /* no escape: the text itself */
    *s = (const char *)start;
    *len = (size_t)(p - start);
    r->p = (const char *)p + 1;
    return 0;
  }
  scratch->len = 0;   /* what is left of the text is always enough: escapes only shrink */
  if (buf_reserve(scratch, (size_t)(r->end - (const char *)start)) != JT_OK)
    return jt_fail(r, r->p, "out of memory for a string");
  base = o = (unsigned char *)scratch->data;
  memcpy(o, start, (size_t)(p - start));
  o += p - start;
  while (rc == 0) {
    if ((p = unescape(r, p, &o)) == NULL) return -1;
    if ((rc = scan_string(r, &p, &o)) < 0) return -1;
  }
  *s = (const char *)base;
  *len = (size_t)(o - base);
  r->p = (const char *)p + 1;
  return 0;
}

int jt_read_number(jt_reader *r, jt_number *n) {
  size_t len = jt_scan_number(r->p, (size_t)(r->end - r->p), &n->integral);
  if (len == 0) return jt_fail(r, r->p, "invalid number");
  if (len < (size_t)(r->end - r->p) && r->p[len] >= '0' && r->p[len] <= '9')
    return jt_fail(r, r->p, "invalid number (a leading zero)");
  n->text = r->p;
  n->len = len;
  r->p += len;
  return 0;
}

int jt_read_literal(jt_reader *r, int *which) {
  static const char *const words[] = {"null", "false", "true"};
  size_t left = (size_t)(r->end - r->p);
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if (left >= n && memcmp(r->p, words[i], n) == 0) {
      *which = i - 1;
      r->p += n;
      return 0;
    }
  }
  return jt_fail_expected(r, "a value");
}

/* Steps over the members of an object or the elements of an array, after its opening bracket. */
static int skip_container(jt_reader *r, buf *scratch, int depth_left, bool object) {
  char close = object ? '}' : ']';
  const char *s;
  size_t len;
  if (jt_peek(r) == close) {
    r->p++;
    return 0;
  }
  for (;;) {
    if (object) {
      if (jt_peek(r) != '"') return jt_fail_expected(r, "a string (a member's name)");
      if (jt_read_string(r, scratch, &s, &len) < 0 || jt_expect(r, ':', "':'") < 0) return -1;
    }
    if (jt_skip_value(r, scratch, depth_left - 1) < 0) return -1;
    if (jt_peek(r) == close) {
      r->p++;
      return 0;
    }
    if (jt_expect(r, ',', object ? "',' or '}'" : "',' or ']'") < 0) return -1;
  }
}

int jt_skip_value(jt_reader *r, buf *scratch, int depth_left) {
  const char *s;
  size_t len;
  jt_number n;
  int which;
  switch (jt_peek(r)) {
    case '{': case '[':
      if (depth_left <= 0) return jt_fail(r, r->p, "nesting too deep");
      return skip_container(r, scratch, depth_left, *r->p++ == '{');
    case '"': return jt_read_string(r, scratch, &s, &len);
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
    case '8': case '9':
      return jt_read_number(r, &n);
    default: return jt_read_literal(r, &which);
  }
}

/* }====================================================== */
