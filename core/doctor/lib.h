/*
 * core/doctor — what `tern doctor` and `tern account add` check, as data:
 * each check is a list of steps (status, one line of explanation, optional
 * extra lines), never printed here. Also the careful edits those commands
 * make to the config file. Owner: the setup engineer (core/doctor,
 * cmd/doctor.c, cmd/account_add.c, cmd/complete.c, completions/).
 *
 *   net.c      plain sockets for what libcurl hides: name resolution, TCP
 *              connect with the reason it failed (refused / timed out /
 *              unreachable), the server's first bytes (plaintext greeting or
 *              silence), and the plaintext capability query before STARTTLS
 *              (no credential is ever sent on these sockets)
 *   caps.c     capability lists of IMAP, POP3 and SMTP in one form, and the
 *              queries made over an open core/conn stream (CAPABILITY, CAPA,
 *              EHLO, IMAP LIST, POP3 STAT)
 *   check.c    the steps for one server and for one account (receiving and
 *              sending), verdicts, worst-step ranking
 *   confedit.c appending an [account NAME] section and setting one key in a
 *              section of the config file, byte for byte otherwise, written
 *              atomically (temporary file, fsync, rename)
 *
 * Every login goes through core/conn, so TLS (and the certificate or pin
 * check) always comes before any credential. The plaintext sockets of
 * net.c only read greetings and ask for capabilities.
 *
 * Ownership: the caller owns what it passes in; reports are owned by the
 * caller and freed with doctor_side_free / doctor_report_free.
 */
#ifndef TERN_DOCTOR_LIB_H
#define TERN_DOCTOR_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/conn/lib.h"

/* Ceilings for what a server can make a check hold. */
#define DOCTOR_LINE_MAX 8192      /* one line on the plaintext socket */
#define DOCTOR_CAPS_LINES_MAX 512 /* lines of one capability answer */
#define DOCTOR_CAPS_MAX 16384     /* bytes of capability words kept */
#define DOCTOR_FOLDERS_MAX 100000 /* LIST answers counted */
#define DOCTOR_FOLDER_NAMES 8     /* folder names shown in the step line */
#define DOCTOR_SNIFF_MS                                                                            \
    5000 /* longest wait for a plaintext greeting                                                  \
          * before trying TLS instead */

enum doctor_status {
    DOCTOR_OK,   /* ✓ */
    DOCTOR_WARN, /* works, but something deserves a look (shown with !) */
    DOCTOR_FAIL, /* ✗: this side does not work; later steps were not run */
};

/* Step ids (the "step" of --json), in the order they run. */
#define DOCTOR_STEP_CONFIG "config"
#define DOCTOR_STEP_RESOLVE "resolve"
#define DOCTOR_STEP_CONNECT "connect"
#define DOCTOR_STEP_TLS_MODE "tls-mode"
#define DOCTOR_STEP_STARTTLS "starttls"
#define DOCTOR_STEP_CERT "certificate"
/* implicit TLS only, and only when it fails: TLS and the certificate
 * were fine, but no greeting came after the handshake */
#define DOCTOR_STEP_GREETING "greeting"
#define DOCTOR_STEP_CAPS "capabilities"
#define DOCTOR_STEP_PASSWORD "password"
#define DOCTOR_STEP_LOGIN "login"
#define DOCTOR_STEP_FOLDERS "folders"
#define DOCTOR_STEP_SENT "sent-folder"
#define DOCTOR_STEP_MESSAGES "messages"
#define DOCTOR_STEP_OUTBOX "outbox"

struct doctor_step {
    const char *id;    /* static: one of DOCTOR_STEP_* */
    const char *title; /* static: "name resolves", "TCP connect", ... */
    enum doctor_status status;
    enum tern_rc rc; /* FAIL: what kind of failure (exit code); else TERN_OK */
    char *detail;    /* owned; one line; may quote server text (unsanitised) */
    char *hint;      /* owned; more lines ('\n'-separated) or NULL */
};

/* One direction of one account: receiving (IMAP/POP3) or sending (SMTP). */
struct doctor_side {
    const char *what;          /* static: "Receiving" or "Sending" */
    const char *proto;         /* static: "IMAP", "POP3", "SMTP" */
    bool configured;           /* false: sending without smtp_host */
    struct doctor_step *steps; /* owned */
    size_t nsteps;
    enum doctor_status status; /* worst step */
    enum tern_rc rc;           /* of the worst failing step (doctor_rc_worse), else TERN_OK */
    char *verdict;             /* owned; "works", "fails — the server refused ..." */
};
void doctor_side_free(struct doctor_side *s); /* NULL-safe; leaves s zeroed */

struct doctor_report {
    char *account; /* owned */
    struct doctor_side receiving;
    struct doctor_side sending;
    enum tern_rc rc; /* worse of the two sides */
};
void doctor_report_free(struct doctor_report *r); /* NULL-safe; leaves r zeroed */

/* Called as each step is decided (for live progress); borrowed pointers,
 * valid during the call. */
typedef void doctor_step_fn(void *arg, const struct doctor_side *side,
                            const struct doctor_step *step);

struct doctor_opts {
    doctor_step_fn *on_step; /* may be NULL */
    void *step_arg;
    conn_trace_fn *trace; /* --debug, for the core/conn connections */
    void *trace_arg;
    unsigned sniff_ms; /* 0: min(timeout, DOCTOR_SNIFF_MS) */
};

/* One server to check. All strings borrowed. */
struct doctor_server {
    enum conn_proto proto;
    enum conn_tls tls;
    const char *host;
    unsigned port;       /* 0: the default for proto and tls */
    const char *ca_file; /* NULL: system store (or the pin alone) */
    const char *pin;     /* NULL: none */
    unsigned timeout_s;  /* per wait; 0: CONN_DEFAULT_TIMEOUT_S */
    const char *user;    /* NULL: stop after capabilities (no login) */
    const char *secret;  /* with user */
    enum conn_auth auth;
    const char *ehlo_name; /* SMTP; NULL: "localhost" */
    const char *tls_key;   /* config key named in messages: "tls" or "smtp_tls" */
    const char *account;   /* for hints ("tern doctor --trust -a NAME"); may be NULL */
};

/*
 * Check one server step by step: resolve, TCP connect, TLS mode (what the
 * server sends first), STARTTLS offered (starttls only), certificate,
 * capabilities and, when s->user is set, login. Stops at the first failing
 * step. side->what/proto are set by the caller or left NULL. When cert is
 * not NULL it receives the certificate facts whenever the server presented
 * one (also when it was not trusted); free with conn_cert_info_free.
 * Returns TERN_OK when the check ran (look at side->status), or an error
 * that stopped it from running (out of memory).
 */
enum tern_rc doctor_check_server(const struct doctor_server *s, const struct doctor_opts *o,
                                 struct doctor_side *side, struct conn_cert_info *cert,
                                 struct tern_err *err);

/*
 * The whole doctor for one account: both sides, each with its config
 * step, the server steps above, the password command, login, and then
 * IMAP folders and the Sent folder, POP3 message count and `keep`, SMTP
 * outbox state. Runs the password commands. Returns TERN_OK when the
 * check ran (look at out->rc).
 */
enum tern_rc doctor_check_account(const struct tern_account *a, const struct doctor_opts *o,
                                  struct doctor_report *out, struct tern_err *err);

/* The more serious of two failure codes for a human: configuration >
 * credentials > TLS/refusal > protocol > network/temporary > OK. */
enum tern_rc doctor_rc_worse(enum tern_rc a, enum tern_rc b);

/* True when pin ("sha256//...") is one of the ';'-separated entries of
 * pins (a config `pin` value); pins may be NULL. */
bool doctor_pin_listed(const char *pins, const char *pin);

/* The standard secure port/TLS combinations of a protocol, in the order
 * `tern account add` tries them (implicit TLS first, RFC 8314). */
struct doctor_candidate {
    unsigned port;
    enum conn_tls tls;
};
size_t doctor_default_candidates(enum conn_proto proto, struct doctor_candidate out[2]);

/* ---------------------------------------------------------- config edits */

/* Append `section` (text starting with "[account NAME]", ending in a
 * newline) to the config file at path, keeping every existing byte (a
 * newline is added first when the file lacks a final one, and a blank line
 * separates sections). A missing file is created with mode 0600 and its
 * missing parent directories with 0700. The result is parsed first; a
 * result that would not load is refused (TERN_ECONFIG) and nothing is
 * written. The file is replaced atomically and keeps its mode; a symlink
 * is followed and its target replaced. */
enum tern_rc doctor_config_append(const char *path, const char *section, struct tern_err *err);

/* Set `key = value` in [account NAME] of the config file at path: the
 * section's existing `key` line is replaced (its indentation kept), or a
 * line is added after the section's last key line. Everything else stays
 * byte for byte. Validated and written as doctor_config_append.
 * TERN_ENOTFOUND when there is no such section. */
enum tern_rc doctor_config_set(const char *path, const char *account, const char *key,
                               const char *value, struct tern_err *err);

/* The same edits on text in memory (tests): *out is a new string. */
enum tern_rc doctor_text_append(const char *text, const char *section, char **out,
                                struct tern_err *err);
enum tern_rc doctor_text_set(const char *text, const char *account, const char *key,
                             const char *value, char **out, struct tern_err *err);

/* Append "key = value\n" to out, quoting the value when the config parser
 * would otherwise change it (leading or trailing blanks, or a value that
 * starts and ends with '"'). CR, LF and NUL are refused (TERN_EDATA). */
enum tern_rc doctor_config_line(struct tbuf *out, const char *key, const char *value,
                                struct tern_err *err);

#endif
