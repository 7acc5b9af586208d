/* `tern send`: build a message from options (body on stdin), or take a
 * ready message (-t, sendmail style), or several (--batch FILE...), and
 * submit over one connection per account; temporary failures go to the
 * outbox (exit 75). Also what runs when tern is invoked as `sendmail`. */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/compose/lib.h"
#include "core/conn/lib.h"
#include "core/outbox/lib.h"
#include "core/smtp/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct strv {
    const char **v;
    size_t n;
};

static void strv_add(struct strv *s, const char *x)
{
    const char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) {
        fputs("tern: out of memory\n", stderr);
        exit(EX_OSERR);
    }
    v[s->n++] = x;
    s->v = v;
}

struct send_args {
    const char *account;
    struct strv to, cc, bcc, reply_to, attach, headers, args;
    const char *subject, *from, *env_from, *full_name;
    bool extract, ignore_dots, batch, no_queue, sendmail, list_queue, flush_queue;
};

static void args_free(struct send_args *a)
{
    struct strv *all[] = {&a->to, &a->cc, &a->bcc, &a->reply_to, &a->attach, &a->headers, &a->args};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]->v);
}

/* Long option with its value as the next word or after '='. Returns the
 * value (NULL: not this option), advancing *i. */
static const char *optval(int argc, char **argv, int *i, const char *name, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* sendmail options that take an argument and are ignored. */
static bool ignored_with_arg(char c)
{
    return strchr("BNRVLXChO", c) != NULL;
}

static int parse_args(int argc, char **argv, struct send_args *a)
{
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (only_args || s[0] != '-' || !s[1]) {
            strv_add(&a->args, s);
            continue;
        }
        if (!strcmp(s, "--")) {
            only_args = true;
            continue;
        }
        bool missing = false;
        const char *v;
        if ((v = optval(argc, argv, &i, "--to", &missing)))
            strv_add(&a->to, v);
        else if ((v = optval(argc, argv, &i, "--cc", &missing)))
            strv_add(&a->cc, v);
        else if ((v = optval(argc, argv, &i, "--bcc", &missing)))
            strv_add(&a->bcc, v);
        else if ((v = optval(argc, argv, &i, "--reply-to", &missing)))
            strv_add(&a->reply_to, v);
        else if ((v = optval(argc, argv, &i, "--attach", &missing)))
            strv_add(&a->attach, v);
        else if ((v = optval(argc, argv, &i, "--header", &missing)))
            strv_add(&a->headers, v);
        else if ((v = optval(argc, argv, &i, "--subject", &missing)))
            a->subject = v;
        else if ((v = optval(argc, argv, &i, "--from", &missing)))
            a->from = v;
        else if ((v = optval(argc, argv, &i, "--account", &missing)))
            a->account = v;
        else if (!strcmp(s, "--batch"))
            a->batch = true;
        else if (!strcmp(s, "--no-queue"))
            a->no_queue = true;
        else if (missing)
            return cmd_usage("send", "%s needs a value", s);
        else if (s[1] == '-')
            return cmd_usage("send", "unknown option '%s'", s);
        else {
            /* short options, sendmail style: value attached or next */
            char c = s[1];
            const char *rest = s + 2;
            if (c == 'a' || c == 'f' || c == 'F' || ignored_with_arg(c)) {
                const char *val = *rest ? rest : (i + 1 < argc ? argv[++i] : NULL);
                if (!val)
                    return cmd_usage("send", "-%c needs a value", c);
                if (c == 'a')
                    a->account = val;
                else if (c == 'f')
                    a->env_from = val;
                else if (c == 'F')
                    a->full_name = val;
            } else if (c == 't' && !*rest) {
                a->extract = true;
            } else if (c == 'i' && !*rest) {
                a->ignore_dots = true;
            } else if (c == 'o') {
                if (!strcmp(rest, "i"))
                    a->ignore_dots = true;
                /* -odi, -oem, -oQ..., ...: delivery modes mean nothing here */
            } else if (c == 'b') {
                if (!strcmp(rest, "p"))
                    a->list_queue = true;
                else if (strcmp(rest, "m"))
                    return cmd_usage("send", "-b%s is not supported (only -bm and -bp)", rest);
            } else if (c == 'q') {
                a->flush_queue = true;
            } else if (strchr("vmUnGAex", c)) {
                /* verbose (use --debug), me-too, initial submission, ...: ignored */
            } else {
                return cmd_usage("send", "unknown option '%s'", s);
            }
        }
    }
    return EX_OK;
}

static bool compose_mode(const struct send_args *a)
{
    return a->to.n || a->cc.n || a->bcc.n || a->reply_to.n || a->attach.n || a->headers.n ||
           a->subject || a->from;
}

static int read_all(int fd, const char *what, struct tbuf *out)
{
    tbuf_init(out, COMPOSE_MSG_MAX);
    enum tern_rc rc = tbuf_read_fd(out, fd);
    if (rc == TERN_EIO) {
        fprintf(stderr, "tern: cannot read %s: %s\n", what, strerror(errno));
        return EX_IOERR;
    }
    if (rc) {
        fprintf(stderr, "tern: %s is larger than %zu MiB\n", what, COMPOSE_MSG_MAX >> 20);
        return EX_DATAERR;
    }
    return EX_OK;
}

/* The account whose address is addr (case-insensitive), or NULL. */
static const struct tern_account *account_by_address(const struct tern_config *cfg,
                                                     const char *addr)
{
    for (size_t i = 0; addr && i < cfg->naccounts; i++)
        if (cfg->accounts[i].address && !tern_strcasecmp(cfg->accounts[i].address, addr))
            return &cfg->accounts[i];
    return NULL;
}

static const struct tern_account *pick_account(struct cmd_ctx *ctx, const struct send_args *a,
                                               const char *from_addr, struct tern_err *err)
{
    if (a->account) {
        const struct tern_account *acc = config_account(ctx->cfg, a->account);
        if (!acc)
            tern_fail(err, TERN_ECONFIG, "no account '%s'", a->account);
        return acc;
    }
    const struct tern_account *acc = account_by_address(ctx->cfg, a->env_from);
    if (!acc)
        acc = account_by_address(ctx->cfg, from_addr);
    if (!acc)
        acc = config_account(ctx->cfg, NULL);
    if (!acc)
        tern_fail(err, TERN_ECONFIG, "no account configured");
    return acc;
}

static void print_lines(FILE *f, const char *prefix, const char *text)
{
    char *safe = safe_text_dup(text, strlen(text), SAFE_ALLOW_NEWLINE);
    const char *p = safe ? safe : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "tern: %s%.*s\n", prefix, (int)n, p);
        p += n + (nl != NULL);
    }
    free(safe);
}

/* Print what happened to one item and return its exit code. */
static int report_item(const struct outbox_item *it, const char *label, bool quiet_ok)
{
    int ex = it->rc ? cmd_exit_code(it->rc) : EX_OK;
    char prefix[300] = "";
    if (label)
        tern_snprintf(prefix, sizeof prefix, "%s: ", label);
    if (it->fate == OUTBOX_FATE_SENT && !it->notes.len) {
        if (!quiet_ok) {
            char *safe = safe_text_dup(it->text, strlen(it->text), 0);
            printf("%s%s\n", prefix, safe ? safe : "");
            free(safe);
        }
    } else {
        print_lines(stderr, prefix, it->text);
    }
    if (it->notes.len)
        print_lines(stderr, prefix, it->notes.data);
    return ex;
}

struct prepared {
    struct compose_msg msg;
    const struct tern_account *acct;
    const char *label;
    int ex; /* nonzero: could not be prepared (already reported) */
};

static int prepare_fail(struct prepared *p, const struct tern_err *err)
{
    if (p->label)
        fprintf(stderr, "tern: %s: ", p->label);
    p->ex = cmd_report(err);
    return p->ex;
}

/* A ready message (stdin or a --batch file). */
static int prepare_ready(struct cmd_ctx *ctx, const struct send_args *a, const char *data,
                         size_t len, struct prepared *p)
{
    struct tern_err err = {0};
    char *hdr_from = compose_from_address(data, len);
    p->acct = pick_account(ctx, a, hdr_from, &err);
    free(hdr_from);
    if (!p->acct)
        return prepare_fail(p, &err);
    struct compose_addr from = {
        .name = (char *)(a->full_name ? a->full_name : p->acct->display_name),
        .addr = p->acct->address,
    };
    const char *at = strrchr(p->acct->address, '@');
    struct compose_ready_opts o = {
        .extract = a->extract || a->batch,
        .dot_ends = !a->ignore_dots && !a->batch,
        .rcpts = a->batch ? NULL : a->args.v,
        .nrcpts = a->batch ? 0 : a->args.n,
        .from = &from,
        .msgid_domain = at ? at + 1 : NULL,
    };
    if (a->full_name && tern_has_crlf(a->full_name, SIZE_MAX))
        return prepare_fail(p, &(struct tern_err){TERN_EDATA, "CR or LF in -F"});
    if (compose_ready(data, len, &o, &p->msg, &err))
        return prepare_fail(p, &err);
    const char *env = a->env_from ? a->env_from : p->acct->address;
    if (smtp_addr_check(env, true, NULL, &err)) {
        struct tern_err e2 = {TERN_EDATA, ""};
        tern_snprintf(e2.msg, sizeof e2.msg, "bad envelope sender (-f): %s", err.msg);
        return prepare_fail(p, &e2);
    }
    if (!(p->msg.from = tern_strdup(env)))
        return prepare_fail(p, &(struct tern_err){TERN_ENOMEM, "out of memory"});
    return EX_OK;
}

static int parse_list(const struct strv *s, struct compose_addrs *out, const char *opt,
                      struct tern_err *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (compose_parse_addrs(s->v[i], strlen(s->v[i]), out, err)) {
            char m[TERN_ERR_MSG_MAX];
            tern_snprintf(m, sizeof m, "%s: %s", opt, err->msg);
            memcpy(err->msg, m, sizeof m);
            return err->rc;
        }
    return TERN_OK;
}

/* tern send --to ...: build the message from options and stdin. */
static int prepare_compose(struct cmd_ctx *ctx, const struct send_args *a, struct prepared *p)
{
    struct tern_err err = {0};
    struct compose_addrs to = {0}, cc = {0}, bcc = {0}, rt = {0}, fromv = {0};
    int ex = EX_OK;
    if (parse_list(&a->to, &to, "--to", &err) || parse_list(&a->cc, &cc, "--cc", &err) ||
        parse_list(&a->bcc, &bcc, "--bcc", &err) ||
        parse_list(&a->reply_to, &rt, "--reply-to", &err)) {
        ex = prepare_fail(p, &err);
        goto out;
    }
    if (a->from) {
        struct strv f = {(const char *[]){a->from}, 1};
        if (parse_list(&f, &fromv, "--from", &err)) {
            ex = prepare_fail(p, &err);
            goto out;
        }
        if (fromv.n != 1) {
            ex = prepare_fail(p, &(struct tern_err){TERN_EUSAGE, "--from needs one address"});
            goto out;
        }
    }
    p->acct = pick_account(ctx, a, fromv.n ? fromv.v[0].addr : NULL, &err);
    if (!p->acct) {
        ex = prepare_fail(p, &err);
        goto out;
    }
    /* attachments are checked before the body is read: a typo fails fast */
    for (size_t i = 0; i < a->attach.n; i++)
        if (access(a->attach.v[i], R_OK) != 0) {
            tern_fail(&err, TERN_ENOTFOUND, "cannot read attachment '%s': %s", a->attach.v[i],
                      strerror(errno));
            ex = prepare_fail(p, &err);
            goto out;
        }
    struct tbuf body;
    if ((ex = read_all(STDIN_FILENO, "the message body (stdin)", &body))) {
        tbuf_free(&body);
        p->ex = ex;
        goto out;
    }
    struct compose_addr me = {.name = p->acct->display_name, .addr = p->acct->address};
    const char *at = strrchr(p->acct->address, '@');
    struct compose_opts o = {
        .from = fromv.n ? &fromv.v[0] : &me,
        .to = &to,
        .cc = &cc,
        .bcc = &bcc,
        .reply_to = &rt,
        .subject = a->subject,
        .headers = a->headers.v,
        .nheaders = a->headers.n,
        .attach = a->attach.v,
        .nattach = a->attach.n,
        .body = body.data ? body.data : "",
        .body_len = body.len,
        .msgid_domain = at ? at + 1 : NULL,
    };
    if (compose_build(&o, &p->msg, &err))
        ex = prepare_fail(p, &err);
    tbuf_free(&body);
    if (!ex) {
        const char *env = a->env_from ? a->env_from : p->acct->address;
        if (smtp_addr_check(env, true, NULL, &err))
            ex = prepare_fail(p, &(struct tern_err){TERN_EDATA, "bad envelope sender (-f)"});
        else if (!(p->msg.from = tern_strdup(env)))
            ex = prepare_fail(p, &(struct tern_err){TERN_ENOMEM, "out of memory"});
    }
out:
    compose_addrs_free(&to);
    compose_addrs_free(&cc);
    compose_addrs_free(&bcc);
    compose_addrs_free(&rt);
    compose_addrs_free(&fromv);
    return ex;
}

static int run_queue_cmd(struct cmd_ctx *ctx, const struct send_args *a)
{
    char *argv[4] = {"queue", NULL, NULL, NULL};
    int n = 1;
    if (a->flush_queue)
        argv[n++] = "--flush";
    if (a->account) {
        argv[n++] = "-a";
        argv[n++] = (char *)a->account;
    }
    return cmd_queue(ctx, n, argv);
}

static int send_main(struct cmd_ctx *ctx, int argc, char **argv, bool sendmail)
{
    struct send_args a = {0};
    a.sendmail = sendmail;
    int ex = parse_args(argc, argv, &a);
    if (ex) {
        args_free(&a);
        return ex;
    }
    if (a.list_queue || a.flush_queue) {
        ex = (ex = cmd_load_config(ctx)) ? ex : run_queue_cmd(ctx, &a);
        args_free(&a);
        return ex;
    }
    bool comp = compose_mode(&a);
    if (comp && (a.extract || a.batch || a.args.n))
        ex = cmd_usage("send", "--to/--cc/--bcc/--subject/... build a message; they do not mix "
                               "with -t, --batch or recipient arguments");
    else if (a.batch && !a.args.n)
        ex = cmd_usage("send", "--batch needs message files");
    else if (!comp && !a.extract && !a.batch && !a.args.n)
        ex = cmd_usage("send", "no recipients (give --to ADDR, or -t, or recipient arguments)");
    if (!ex)
        ex = cmd_load_config(ctx);
    if (ex) {
        args_free(&a);
        return ex;
    }
    struct tern_err gerr = {0};
    if (conn_global_init(&gerr)) {
        args_free(&a);
        return cmd_report(&gerr);
    }

    size_t n = a.batch ? a.args.n : 1;
    struct prepared *ps = calloc(n, sizeof *ps);
    if (!ps) {
        fputs("tern: out of memory\n", stderr);
        return EX_OSERR;
    }
    int worst = EX_OK;
    /* everything is prepared (and every input checked) before anything is sent */
    if (a.batch) {
        for (size_t i = 0; i < n; i++) {
            ps[i].label = a.args.v[i];
            struct tbuf data;
            int fd = open(a.args.v[i], O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                fprintf(stderr, "tern: %s: cannot open: %s\n", a.args.v[i], strerror(errno));
                ps[i].ex = EX_NOINPUT;
            } else {
                ps[i].ex = read_all(fd, a.args.v[i], &data);
                close(fd);
                if (!ps[i].ex)
                    prepare_ready(ctx, &a, data.data ? data.data : "", data.len, &ps[i]);
                tbuf_free(&data);
            }
            worst = cmd_worse_exit(worst, ps[i].ex);
        }
    } else if (comp) {
        worst = prepare_compose(ctx, &a, &ps[0]);
    } else {
        struct tbuf data;
        worst = read_all(STDIN_FILENO, "the message (stdin)", &data);
        if (!worst)
            worst = prepare_ready(ctx, &a, data.data ? data.data : "", data.len, &ps[0]);
        tbuf_free(&data);
    }
    /* a single message that could not be prepared: nothing to send */
    if (!a.batch && worst) {
        compose_msg_free(&ps[0].msg);
        free(ps);
        args_free(&a);
        return worst;
    }

    struct outbox_opts o = {
        .queue = !a.no_queue,
        .trace = ctx->debug ? cmd_trace : NULL,
    };
    /* one connection per account, in order of first appearance */
    struct outbox_item *items = calloc(n, sizeof *items);
    size_t *idx = calloc(n, sizeof *idx);
    bool *done = calloc(n, sizeof *done);
    if (!items || !idx || !done) {
        fputs("tern: out of memory\n", stderr);
        exit(EX_OSERR);
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i] || ps[i].ex)
            continue;
        const struct tern_account *acc = ps[i].acct;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (done[j] || ps[j].ex || ps[j].acct != acc)
                continue;
            done[j] = true;
            idx[k] = j;
            struct outbox_item *it = &items[k++];
            memset(it, 0, sizeof *it);
            it->data = ps[j].msg.data.data;
            it->len = ps[j].msg.data.len;
            it->from = ps[j].msg.from;
            it->rcpts = (const char *const *)ps[j].msg.rcpts;
            it->nrcpts = ps[j].msg.nrcpts;
        }
        struct tern_err err = {0};
        enum tern_rc rc = outbox_submit(acc, items, k, &o, &err);
        for (size_t m = 0; m < k; m++) {
            int e = report_item(&items[m], ps[idx[m]].label, sendmail);
            worst = cmd_worse_exit(worst, e);
            outbox_item_free(&items[m]);
        }
        if (rc && !k)
            worst = cmd_worse_exit(worst, cmd_report(&err));
    }
    free(items);
    free(idx);
    free(done);
    for (size_t i = 0; i < n; i++)
        compose_msg_free(&ps[i].msg);
    free(ps);
    args_free(&a);
    return worst;
}

int cmd_send(struct cmd_ctx *ctx, int argc, char **argv)
{
    return send_main(ctx, argc, argv, false);
}

int cmd_sendmail(int argc, char **argv)
{
    struct cmd_ctx ctx = {0};
    int ex = send_main(&ctx, argc, argv, true);
    config_free(&ctx.cfg);
    return ex;
}
