#include "lib.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A password command's output is one line; anything bigger is a mistake. */
#define SECRET_MAX_BYTES 16384
#define SECRET_MAX_ARGS 64

/* Characters that mean the user wrote shell syntax on purpose. */
static bool wants_shell(const char *cmd)
{
    return strpbrk(cmd, "$`|;&<>()*?~\\'\"{}[]!#\n") != NULL;
}

/* Split on blanks into argv (pointers into buf, which is modified). */
static size_t split_words(char *buf, char **argv, size_t max)
{
    size_t n = 0;
    char *s = buf;
    while (*s && n + 1 < max) {
        while (*s == ' ' || *s == '\t')
            *s++ = '\0';
        if (!*s)
            break;
        argv[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
    }
    argv[n] = NULL;
    return n;
}

enum tern_rc account_secret(const struct tern_account *a, bool smtp, char **secret,
                            struct tern_err *err)
{
    *secret = NULL;
    const char *literal = smtp ? a->smtp_password : a->password;
    const char *cmd = smtp ? a->smtp_password_command : a->password_command;
    if (literal) {
        *secret = tern_strdup(literal);
        return *secret ? TERN_OK : tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    if (!cmd)
        return tern_fail(err, TERN_ECONFIG, "account '%s' has no %spassword_command", a->name,
                         smtp ? "smtp_" : "");
    char *words = tern_strdup(cmd);
    char *argv[SECRET_MAX_ARGS + 1];
    if (!words)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    if (wants_shell(cmd)) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = (char *)cmd;
        argv[3] = NULL;
    } else if (split_words(words, argv, SECRET_MAX_ARGS) == 0) {
        free(words);
        return tern_fail(err, TERN_ECONFIG, "account '%s': empty password command", a->name);
    }
    int fds[2];
    if (pipe(fds) != 0) {
        free(words);
        return tern_fail(err, TERN_EIO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(words);
        return tern_fail(err, TERN_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    struct tbuf out;
    tbuf_init(&out, SECRET_MAX_BYTES);
    enum tern_rc rc = TERN_OK;
    char chunk[512];
    for (;;) {
        ssize_t got = read(fds[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (!rc)
            rc = tbuf_append(&out, chunk, (size_t)got);
    }
    explicit_bzero(chunk, sizeof chunk);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    free(words);
    if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = tern_fail(err, TERN_ECONFIG, "account '%s': password command failed (%s %d)",
                       a->name, WIFEXITED(status) ? "exit status" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    else if (rc)
        rc = tern_fail(err, TERN_ECONFIG, "account '%s': password command output too long",
                       a->name);
    if (!rc) {
        size_t n = strcspn(out.data ? out.data : "", "\r\n");
        if (n == 0)
            rc = tern_fail(err, TERN_ECONFIG, "account '%s': password command printed nothing",
                           a->name);
        else if (!(*secret = tern_strndup(out.data, n)))
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    if (out.data)
        explicit_bzero(out.data, out.cap);
    tbuf_free(&out);
    return rc;
}
