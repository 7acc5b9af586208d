/*
 * Plain sockets for the steps libcurl does not show one by one: name
 * resolution, the TCP connect and why it failed, and what a server sends
 * before any TLS. Nothing secret is ever written to these sockets: only
 * capability queries and LOGOUT/QUIT.
 */
#include "private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum tern_rc net_resolve(const char *host, unsigned port, struct addrinfo **ai, char *addrs,
                         size_t addrs_size, struct tern_err *err)
{
    *ai = NULL;
    addrs[0] = '\0';
    char service[16];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int g = getaddrinfo(host, service, &hints, ai);
    if (g != 0) {
        /* NONAME is an answer ("no such host": a typo, most likely);
         * anything else may pass (no network, resolver down). */
        if (g == EAI_NONAME)
            return tern_fail(err, TERN_ECONFIG, "%s does not resolve: no such host name", host);
        if (g == EAI_SYSTEM)
            return tern_fail(err, TERN_ECONN, "cannot resolve %s: %s", host, strerror(errno));
        return tern_fail(err, TERN_ECONN, "cannot resolve %s: %s", host, gai_strerror(g));
    }
    size_t used = 0, shown = 0;
    for (struct addrinfo *a = *ai; a && shown < 3; a = a->ai_next) {
        char num[INET6_ADDRSTRLEN];
        const void *src =
            a->ai_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
        if (!inet_ntop(a->ai_family, src, num, sizeof num))
            continue;
        if (strstr(addrs, num)) /* getaddrinfo repeats addresses per protocol */
            continue;
        int w = snprintf(addrs + used, addrs_size - used, "%s%s", shown ? ", " : "", num);
        if (w < 0 || (size_t)w >= addrs_size - used)
            break;
        used += (size_t)w;
        shown++;
    }
    return TERN_OK;
}

/* One non-blocking connect; returns 0 or an errno value (ETIMEDOUT for
 * no answer within timeout_ms). */
static int connect_one(const struct addrinfo *a, unsigned timeout_ms, int *fd_out)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0)
        return errno;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        *fd_out = fd;
        return 0;
    }
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return e;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= end) {
            close(fd);
            return ETIMEDOUT;
        }
        int r = poll(&p, 1, (int)(end - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return e;
        }
        if (r == 0) {
            close(fd);
            return ETIMEDOUT;
        }
        break;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr) {
        close(fd);
        return soerr;
    }
    *fd_out = fd;
    return 0;
}

enum tern_rc net_connect(struct net_sock *s, const struct addrinfo *ai, unsigned timeout_ms,
                         unsigned *ms, struct tern_err *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->timeout_ms = timeout_ms;
    uint64_t start = now_ms();
    int last = ENOENT;
    bool saw_timeout = false, saw_refused = false;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = -1;
        int e = connect_one(a, timeout_ms, &fd);
        if (e == 0) {
            s->fd = fd;
            *ms = (unsigned)(now_ms() - start);
            return TERN_OK;
        }
        if (e == ETIMEDOUT)
            saw_timeout = true;
        if (e == ECONNREFUSED)
            saw_refused = true;
        last = e;
    }
    *ms = (unsigned)(now_ms() - start);
    /* With several addresses, a refusal is the most telling answer: it
     * comes from the host itself. */
    if (saw_refused)
        return tern_fail(err, TERN_ECONN,
                         "connection refused: nothing listens on that port (wrong port, or "
                         "the server is down)");
    if (saw_timeout)
        return tern_fail(err, TERN_ETIMEOUT,
                         "no answer within %u s: the port looks filtered by a firewall, or the "
                         "host is down",
                         (timeout_ms + 999) / 1000);
    if (last == EHOSTUNREACH || last == ENETUNREACH)
        return tern_fail(err, TERN_ECONN, "host unreachable: %s (no route; offline?)",
                         strerror(last));
    return tern_fail(err, TERN_ECONN, "cannot connect: %s", strerror(last));
}

void net_close(struct net_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->len = 0;
}

/* Read more bytes into the buffer within wait_ms: 1 got some, 0 closed,
 * -1 timed out, -2 error. */
static int fill(struct net_sock *s, unsigned wait_ms)
{
    if (s->len >= sizeof s->buf)
        return -2;
    uint64_t end = now_ms() + wait_ms;
    for (;;) {
        ssize_t r = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
        if (r > 0) {
            s->len += (size_t)r;
            return 1;
        }
        if (r == 0) {
            s->eof = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -2;
        uint64_t now = now_ms();
        if (now >= end)
            return -1;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(end - now));
        if (pr < 0 && errno != EINTR)
            return -2;
    }
}

enum net_first net_classify(const char *p, size_t n)
{
    if (n == 0)
        return FIRST_SILENT;
    unsigned char c0 = (unsigned char)p[0];
    /* TLS record types: 0x15 alert, 0x16 handshake */
    if ((c0 == 0x15 || c0 == 0x16) && n >= 2 && p[1] == 0x03)
        return FIRST_TLS;
    if ((n >= 4 && !strncmp(p, "* OK", 4)) || (n >= 5 && !strncmp(p, "* BYE", 5)))
        return FIRST_IMAP;
    if (n >= 9 && !strncmp(p, "* PREAUTH", 9))
        return FIRST_IMAP;
    if (n >= 3 && (!strncmp(p, "+OK", 3) || (n >= 4 && !strncmp(p, "-ERR", 4))))
        return FIRST_POP3;
    if (n >= 4 && p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
        p[2] <= '9' && (p[3] == ' ' || p[3] == '-'))
        return FIRST_SMTP;
    return FIRST_OTHER;
}

enum net_first net_sniff(struct net_sock *s, unsigned wait_ms, struct tbuf *line)
{
    tbuf_reset(line);
    uint64_t end = now_ms() + wait_ms;
    while (!memchr(s->buf, '\n', s->len) && s->len < sizeof s->buf) {
        uint64_t now = now_ms();
        if (now >= end)
            break;
        int r = fill(s, (unsigned)(end - now));
        if (r <= 0)
            break;
        /* binary first bytes: no line will come */
        if (net_classify(s->buf, s->len) == FIRST_TLS)
            break;
    }
    if (s->len == 0)
        return s->eof ? FIRST_CLOSED : FIRST_SILENT;
    enum net_first k = net_classify(s->buf, s->len);
    if (k == FIRST_TLS)
        return k;
    char *nl = memchr(s->buf, '\n', s->len);
    size_t n = nl ? (size_t)(nl - s->buf) : s->len;
    size_t take = nl ? n + 1 : n;
    if (n && s->buf[n - 1] == '\r')
        n--;
    tbuf_append(line, s->buf, n);
    memmove(s->buf, s->buf + take, s->len - take);
    s->len -= take;
    return k;
}

enum tern_rc net_read_line(struct net_sock *s, struct tbuf *line, struct tern_err *err)
{
    tbuf_reset(line);
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        if (nl) {
            size_t n = (size_t)(nl - s->buf);
            size_t take = n + 1;
            if (n && s->buf[n - 1] == '\r')
                n--;
            if (line->len + n > DOCTOR_LINE_MAX)
                return tern_fail(err, TERN_EPROTO, "the server sent a line longer than %d bytes",
                                 DOCTOR_LINE_MAX);
            if (tbuf_append(line, s->buf, n))
                return tern_fail(err, TERN_ENOMEM, "out of memory");
            memmove(s->buf, s->buf + take, s->len - take);
            s->len -= take;
            return TERN_OK;
        }
        /* no end yet: move what we have into line and read on */
        if (line->len + s->len > DOCTOR_LINE_MAX)
            return tern_fail(err, TERN_EPROTO, "the server sent a line longer than %d bytes",
                             DOCTOR_LINE_MAX);
        if (s->len && tbuf_append(line, s->buf, s->len))
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        s->len = 0;
        if (s->eof)
            return tern_fail(err, TERN_ECONN, "the server closed the connection");
        int r = fill(s, s->timeout_ms);
        if (r == 0 && s->len == 0)
            return tern_fail(err, TERN_ECONN, "the server closed the connection");
        if (r == -1)
            return tern_fail(err, TERN_ETIMEOUT, "the server did not answer within %u s",
                             (s->timeout_ms + 999) / 1000);
        if (r == -2)
            return tern_fail(err, TERN_ECONN, "connection lost: %s", strerror(errno));
    }
}

enum tern_rc net_send(struct net_sock *s, const char *text, struct tern_err *err)
{
    size_t n = strlen(text), off = 0;
    uint64_t end = now_ms() + s->timeout_ms;
    while (off < n) {
        ssize_t w = send(s->fd, text + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint64_t now = now_ms();
            if (now >= end)
                return tern_fail(err, TERN_ETIMEOUT, "the server does not read what we send");
            struct pollfd p = {.fd = s->fd, .events = POLLOUT};
            poll(&p, 1, (int)(end - now));
            continue;
        }
        return tern_fail(err, TERN_ECONN, "connection lost: %s", strerror(errno));
    }
    return TERN_OK;
}
