/* Unit tests for the core/base helpers other modules share: the staged
 * tbuf writer, whole-descriptor reads and writes, one UTF-8 sequence and
 * base64 digits. */
#include "check.h"
#include "core/base/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void test_stage(void)
{
    struct tbuf out;
    tbuf_init(&out, 0);
    struct tbuf_stage s;
    tbuf_stage_init(&s, &out);
    CHECK_INT(tbuf_stage_done(&s), TERN_OK);
    CHECK(out.data != NULL && out.len == 0 && out.data[0] == '\0');

    /* more than one stage-full, by bytes and by runs, in order */
    tbuf_reset(&out);
    tbuf_stage_init(&s, &out);
    for (int i = 0; i < 5000; i++)
        tbuf_stage_putc(&s, (char)('a' + i % 26));
    char big[3000];
    memset(big, 'Z', sizeof big);
    tbuf_stage_put(&s, big, sizeof big); /* larger than the stage: straight through */
    tbuf_stage_put(&s, "xy", 2);
    tbuf_stage_put(&s, NULL, 0);
    CHECK_INT(tbuf_stage_done(&s), TERN_OK);
    CHECK_INT(out.len, 5000 + 3000 + 2);
    CHECK(out.data[0] == 'a' && out.data[4999] == 'a' + 4999 % 26);
    CHECK(out.data[5000] == 'Z' && out.data[7999] == 'Z');
    CHECK_STR(out.data + 8000, "xy");
    tbuf_free(&out);

    /* a ceiling: the first failure sticks and later output is dropped */
    tbuf_init(&out, 100);
    tbuf_stage_init(&s, &out);
    for (int i = 0; i < 3000; i++)
        tbuf_stage_putc(&s, 'q');
    tbuf_stage_put(&s, "tail", 4);
    CHECK_INT(tbuf_stage_done(&s), TERN_EPROTO);
    CHECK(out.len <= 100);
    tbuf_free(&out);
}

static void test_fd(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(tern_write_all(p[1], "hello, pipe", 11));
    CHECK(tern_write_all(p[1], "", 0));
    close(p[1]);
    struct tbuf b;
    tbuf_init(&b, 0);
    CHECK_INT(tbuf_read_fd(&b, p[0]), TERN_OK);
    CHECK_STR(b.data, "hello, pipe");
    close(p[0]);

    /* more than one read's worth, through a file */
    char path[] = "/tmp/tern-base-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static char data[200000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    CHECK(tern_write_all(fd, data, sizeof data));
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    tbuf_reset(&b);
    CHECK_INT(tbuf_read_fd(&b, fd), TERN_OK);
    CHECK(b.len == sizeof data && !memcmp(b.data, data, sizeof data));
    tbuf_free(&b);

    /* past the ceiling: tbuf_append's code */
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    tbuf_init(&b, 1000);
    CHECK_INT(tbuf_read_fd(&b, fd), TERN_EPROTO);
    tbuf_free(&b);
    close(fd);
    unlink(path);

    /* a read that fails: TERN_EIO with errno kept */
    tbuf_init(&b, 0);
    errno = 0;
    CHECK_INT(tbuf_read_fd(&b, -1), TERN_EIO);
    CHECK_INT(errno, EBADF);
    errno = 0;
    CHECK(!tern_write_all(-1, "x", 1));
    CHECK_INT(errno, EBADF);
    tbuf_free(&b);
}

static size_t seq(const char *s, uint32_t *cp)
{
    return tern_utf8_seq((const unsigned char *)s, strlen(s), cp);
}

static void test_utf8_seq(void)
{
    uint32_t cp = 0;
    CHECK_INT(seq("\xC3\xA9!", &cp), 2);
    CHECK_INT(cp, 0xE9);
    CHECK_INT(seq("\xC2\x9B", &cp), 2); /* C1 control: valid UTF-8, caller decides */
    CHECK_INT(cp, 0x9B);
    CHECK_INT(seq("\xE2\x82\xAC", &cp), 3);
    CHECK_INT(cp, 0x20AC);
    CHECK_INT(seq("\xF0\x9F\x98\x80", &cp), 4);
    CHECK_INT(cp, 0x1F600);
    CHECK_INT(seq("\xF4\x8F\xBF\xBF", &cp), 4);
    CHECK_INT(cp, 0x10FFFF);
    CHECK_INT(seq("A", &cp), 0);                /* ASCII is not a multi-byte sequence */
    CHECK_INT(seq("\x80", &cp), 0);             /* stray continuation */
    CHECK_INT(seq("\xC0\x80", &cp), 0);         /* overlong NUL */
    CHECK_INT(seq("\xE0\x80\x80", &cp), 0);     /* overlong */
    CHECK_INT(seq("\xF0\x80\x80\x80", &cp), 0); /* overlong */
    CHECK_INT(seq("\xED\xA0\x80", &cp), 0);     /* surrogate */
    CHECK_INT(seq("\xF4\x90\x80\x80", &cp), 0); /* above U+10FFFF */
    CHECK_INT(seq("\xF5\x80\x80\x80", &cp), 0);
    CHECK_INT(seq("\xE2\x82", &cp), 0);     /* truncated */
    CHECK_INT(seq("\xE2\x28\xA1", &cp), 0); /* bad continuation */
}

static void test_base64(void)
{
    const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (unsigned v = 0; v < 64; v++) {
        CHECK(tern_base64_digit(v, '/') == std[v]);
        CHECK_INT(tern_base64_value((unsigned char)std[v], '/'), v);
    }
    CHECK(tern_base64_digit(63, ',') == ',');
    CHECK(tern_base64_digit(64 + 1, '/') == 'B'); /* low 6 bits only */
    CHECK_INT(tern_base64_value(',', ','), 63);
    CHECK_INT(tern_base64_value('/', ','), -1);
    CHECK_INT(tern_base64_value(',', '/'), -1);
    CHECK_INT(tern_base64_value('=', '/'), -1);
    CHECK_INT(tern_base64_value('\n', '/'), -1);
    CHECK_INT(tern_base64_value(0xC3, '/'), -1);
    char q[5] = {0};
    tern_base64_quantum((const unsigned char *)"Man", 3, q);
    CHECK_STR(q, "TWFu");
    tern_base64_quantum((const unsigned char *)"Many", 4, q); /* only the first three */
    CHECK_STR(q, "TWFu");
    tern_base64_quantum((const unsigned char *)"Ma", 2, q);
    CHECK_STR(q, "TWE=");
    tern_base64_quantum((const unsigned char *)"M", 1, q);
    CHECK_STR(q, "TQ==");
    tern_base64_quantum((const unsigned char *)"\xFF\xFF\xFF", 3, q);
    CHECK_STR(q, "////");
}

int main(void)
{
    test_stage();
    test_fd();
    test_utf8_seq();
    test_base64();
    return check_done("test-base");
}
