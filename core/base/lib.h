/*
 * core/base — what every core module shares: the error type, a bounded
 * growable buffer and small string helpers. Nothing here prints or exits.
 *
 *   err.c   struct tern_err: one error code plus one line of text, set once
 *   buf.c   struct tbuf: a byte buffer with a hard ceiling (hostile input);
 *           struct tbuf_stage, which batches small appends to one
 *   io.c    a whole file descriptor into a tbuf, a whole buffer to one
 *   str.c   bounded number parsing, CR/LF/NUL checks, safe snprintf, one
 *           UTF-8 sequence
 *   lib.h   also base64 digits (inline; shared by codec, charset, conn)
 *
 * Ownership rule for all of core/: the caller owns what it passes in and the
 * callee keeps nothing after it returns, unless a comment says otherwise.
 */
#ifndef TERN_BASE_LIB_H
#define TERN_BASE_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define TERN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TERN_PRINTF(a, b)
#endif

/* Error codes are chosen by what the caller must do next; cmd/ maps them to
 * sysexits in one place (cmd/exitcode.c). */
enum tern_rc {
    TERN_OK = 0,
    TERN_ENOMEM,    /* out of memory */
    TERN_EUSAGE,    /* bad command-line usage */
    TERN_EDATA,     /* bad input data (message, address, header) */
    TERN_ECONFIG,   /* bad or missing configuration: needs a human */
    TERN_EIO,       /* local file system error */
    TERN_ENOTFOUND, /* no such message, folder, account, file */
    TERN_ECONN,     /* cannot reach the server (DNS, refused, dropped) */
    TERN_ETIMEOUT,  /* server too slow: deadline passed */
    TERN_ETLS,      /* TLS failed: certificate, pin, handshake */
    TERN_ENOTLS,    /* server does not offer STARTTLS: refused to go on */
    TERN_EPROTO,    /* server broke the protocol or exceeded a ceiling */
    TERN_EAUTH,     /* server refused the credentials */
    TERN_ETEMP,     /* server answered with a temporary failure (4xx, NO) */
    TERN_EREFUSED,  /* server answered with a permanent failure (5xx) */
    TERN_ENOTSUP,   /* server lacks a needed feature */
    TERN_ELOCKED,   /* another tern holds the lock */
    TERN_ECANCELED, /* interrupted by the user */
    TERN_EINTERNAL, /* a bug or an unexpected library failure */
};

#define TERN_ERR_MSG_MAX 512

struct tern_err {
    enum tern_rc rc;
    char msg[TERN_ERR_MSG_MAX]; /* one line, no trailing newline */
};

/* Record a failure in err (which may be NULL) unless one is already
 * recorded: the first failure wins. Returns rc so callers can write
 * `return tern_fail(err, TERN_EIO, "...")`. */
enum tern_rc tern_fail(struct tern_err *err, enum tern_rc rc, const char *fmt, ...)
    TERN_PRINTF(3, 4);
enum tern_rc tern_failv(struct tern_err *err, enum tern_rc rc, const char *fmt, va_list ap)
    TERN_PRINTF(3, 0);
/* Forget a recorded failure (for callers that handled it). */
void tern_err_clear(struct tern_err *err);
/* Short English name of a code, for messages ("timed out"). */
const char *tern_rc_str(enum tern_rc rc);
/* True for failures that may go away by themselves (network, 4xx). */
bool tern_rc_is_temporary(enum tern_rc rc);

/* A byte buffer that refuses to grow past `max` (TERN_EPROTO). data is
 * always NUL-terminated after a successful append, so it can be used as a
 * string when the content has no NUL. */
struct tbuf {
    char *data; /* owned */
    size_t len;
    size_t cap;
    size_t max; /* 0 means SIZE_MAX / 2 */
};

void tbuf_init(struct tbuf *b, size_t max);
void tbuf_free(struct tbuf *b); /* frees data, leaves b empty and usable */
void tbuf_reset(struct tbuf *b); /* len = 0, memory kept */
enum tern_rc tbuf_append(struct tbuf *b, const void *p, size_t n);
enum tern_rc tbuf_putc(struct tbuf *b, char c);
enum tern_rc tbuf_puts(struct tbuf *b, const char *s);
enum tern_rc tbuf_printf(struct tbuf *b, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Hand the data to the caller (who frees it); b is left empty. */
char *tbuf_steal(struct tbuf *b);

/* Output staged in a local buffer so writers that produce a byte or a few
 * at a time do not pay a tbuf_append each; the first failure sticks in rc
 * and later output is dropped. On failure out may hold part of the result. */
struct tbuf_stage {
    struct tbuf *out;
    enum tern_rc rc;
    size_t len;
    char buf[2048];
};

void tbuf_stage_init(struct tbuf_stage *s, struct tbuf *out);
void tbuf_stage_flush(struct tbuf_stage *s); /* append what is staged to out */
/* Flush and make out->data a string even when nothing was added; s->rc. */
enum tern_rc tbuf_stage_done(struct tbuf_stage *s);

/* The two calls made per byte or per few bytes are inline: as calls into
 * another library they cost base64 encoding four fifths of its speed. */
static inline void tbuf_stage_putc(struct tbuf_stage *s, char c)
{
    if (s->len == sizeof s->buf)
        tbuf_stage_flush(s);
    s->buf[s->len++] = c;
}

static inline void tbuf_stage_put(struct tbuf_stage *s, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (n > sizeof s->buf - s->len) {
        tbuf_stage_flush(s);
        if (n > sizeof s->buf) { /* too big to stage: straight through */
            if (s->rc == TERN_OK)
                s->rc = tbuf_append(s->out, p, n);
            return;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Append everything read from fd until end of file (EINTR retried).
 * TERN_EIO with errno kept when a read fails; tbuf_append's code
 * (TERN_EPROTO at b's ceiling, TERN_ENOMEM) when b cannot take more. What
 * was read before a failure stays in b. */
enum tern_rc tbuf_read_fd(struct tbuf *b, int fd);
/* Write all of p[0..n) to fd (EINTR retried). False when a write fails or
 * writes nothing; errno is then what write left. */
bool tern_write_all(int fd, const void *p, size_t n);

/* Parse a decimal number made only of digits (no sign, no space) from
 * s[0..n) into *out; fails on empty input, any non-digit or a value above
 * max. The bounded parser for every number that comes from outside. */
bool tern_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* True when s holds CR, LF or NUL within its first n bytes, or when s is a
 * C string with CR or LF (n == SIZE_MAX means use strlen). */
bool tern_has_crlf(const char *s, size_t n);
/* snprintf that reports truncation as failure (returns false). */
bool tern_snprintf(char *dst, size_t size, const char *fmt, ...) TERN_PRINTF(3, 4);
/* strdup that returns NULL on NULL input or out of memory. */
char *tern_strdup(const char *s);
char *tern_strndup(const char *s, size_t n);
/* ASCII case-insensitive comparisons (locale-independent). */
int tern_strcasecmp(const char *a, const char *b);
int tern_strncasecmp(const char *a, const char *b, size_t n);
/* Overwrite a secret before freeing it; NULL is fine. */
void tern_free_secret(char *s);

/* Length (2..4) of the valid multi-byte UTF-8 sequence at s[0..n), with its
 * code point in *cp; 0 when there is none there (ASCII or a stray byte,
 * overlong, surrogate, above U+10FFFF, truncated). For layers that must
 * not depend on core/charset for one check. */
size_t tern_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/* Base64 digits. `c63` is the last digit of the alphabet: '/' in RFC 4648
 * base64, ',' in the modified UTF-7 of IMAP folder names (RFC 3501).
 * Inline: they run once per byte of every attachment. */

/* Value 0..63 of digit c, or -1 for a non-digit. */
static inline int tern_base64_value(unsigned char c, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == (unsigned char)c63)
        return 63;
    return -1;
}

/* The low 6 bits of v as a digit. */
static inline char tern_base64_digit(unsigned v, char c63)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    v &= 63;
    return v < 63 || c63 == '/' ? std[v] : c63;
}

/* The four base64 characters ('/' alphabet, '=' padding) for the
 * min(n, 3) bytes at p; n must be > 0. */
static inline void tern_base64_quantum(const unsigned char *p, size_t n, char q[4])
{
    uint32_t v = (uint32_t)p[0] << 16;
    if (n > 1)
        v |= (uint32_t)p[1] << 8;
    if (n > 2)
        v |= p[2];
    q[0] = tern_base64_digit(v >> 18, '/');
    q[1] = tern_base64_digit(v >> 12, '/');
    q[2] = n > 1 ? tern_base64_digit(v >> 6, '/') : '=';
    q[3] = n > 2 ? tern_base64_digit(v, '/') : '=';
}

#endif
