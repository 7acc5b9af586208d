#include "lib.h"
#include "private.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Hard ceilings for a file a human writes: anything bigger is a mistake. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_ACCOUNTS 256
#define CONFIG_MAX_FOLDERS 1024
#define CONFIG_MAX_LIST 4096 /* lines of one repeatable key (bind, color) */

enum key_type { K_STR, K_UINT, K_BOOL, K_INCOMING, K_TLS, K_AUTH, K_FOLDERS, K_LIST };

struct key_def {
    const char *name;
    enum key_type type;
    size_t offset;
    unsigned max; /* K_UINT: largest value accepted */
};

#define ACC(field) offsetof(struct tern_account, field)
static const struct key_def account_keys[] = {
    {"address", K_STR, ACC(address), 0},
    {"name", K_STR, ACC(display_name), 0},
    {"incoming", K_INCOMING, ACC(incoming), 0},
    {"host", K_STR, ACC(host), 0},
    {"port", K_UINT, ACC(port), 65535},
    {"tls", K_TLS, ACC(tls), 0},
    {"user", K_STR, ACC(user), 0},
    {"password_command", K_STR, ACC(password_command), 0},
    {"password", K_STR, ACC(password), 0},
    {"auth", K_AUTH, ACC(auth), 0},
    {"ca_file", K_STR, ACC(ca_file), 0},
    {"pin", K_STR, ACC(pin), 0},
    {"timeout", K_UINT, ACC(timeout), 3600},
    {"maildir", K_STR, ACC(maildir), 0},
    {"keep", K_BOOL, ACC(keep), 0},
    {"keep_days", K_UINT, ACC(keep_days), 36500},
    {"folders", K_FOLDERS, ACC(folders), 0},
    {"offline", K_BOOL, ACC(offline), 0},
    {"smtp_host", K_STR, ACC(smtp_host), 0},
    {"smtp_port", K_UINT, ACC(smtp_port), 65535},
    {"smtp_tls", K_TLS, ACC(smtp_tls), 0},
    {"smtp_user", K_STR, ACC(smtp_user), 0},
    {"smtp_password_command", K_STR, ACC(smtp_password_command), 0},
    {"smtp_password", K_STR, ACC(smtp_password), 0},
    {"smtp_auth", K_AUTH, ACC(smtp_auth), 0},
    {"sent_folder", K_STR, ACC(sent_folder), 0},
    {"save_sent", K_BOOL, ACC(save_sent), 0},
};

#define GEN(field) offsetof(struct tern_config, field)
static const struct key_def general_keys[] = {
    {"default_account", K_STR, GEN(default_account), 0},
    {"html_filter", K_STR, GEN(html_filter), 0},
    {"check_interval", K_UINT, GEN(check_interval), 86400},
    /* Repeatable: each line is appended (the TUI checks the words). */
    {"bind", K_LIST, GEN(binds), 0},
    {"color", K_LIST, GEN(colors), 0},
};
/* K_LIST finds a list's count right after its array pointer. */
_Static_assert(GEN(nbinds) == GEN(binds) + sizeof(char **), "binds/nbinds adjacent");
_Static_assert(GEN(ncolors) == GEN(colors) + sizeof(char **), "colors/ncolors adjacent");

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

struct parser {
    const char *name; /* file name for messages */
    unsigned line;
    struct tern_config *cfg;
    struct tern_account *acct; /* current section, NULL for [general] */
    /* which keys the current account set, to catch duplicates and to know
     * what to default */
    bool seen[NKEYS(account_keys)];
    bool gen_seen[NKEYS(general_keys)];
    struct tern_err *err;
};

static enum tern_rc perr(struct parser *p, const char *fmt, ...) TERN_PRINTF(2, 3);
static enum tern_rc perr(struct parser *p, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tern_fail(p->err, TERN_ECONFIG, "%s:%u: %s", p->name, p->line, msg);
}

static const char *section_label(const struct parser *p)
{
    return p->acct ? p->acct->name : "general";
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* A value may be wrapped in double quotes to keep leading or trailing
 * blanks; nothing inside is special. */
static char *unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        return v + 1;
    }
    return v;
}

bool config_parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"yes", "true", "on", "1"};
    static const char *no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!tern_strcasecmp(v, yes[i])) {
            *out = true;
            return true;
        }
        if (!tern_strcasecmp(v, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

static enum tern_rc set_folders(struct parser *p, struct tern_account *a, const char *v)
{
    /* Comma-separated; a folder name with a comma cannot be listed, which
     * is rare enough to accept for a readable syntax. */
    const char *s = v;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char *item = tern_strndup(s, len);
        if (!item)
            return tern_fail(p->err, TERN_ENOMEM, "out of memory");
        char *t = trim(item);
        if (*t) {
            if (a->nfolders >= CONFIG_MAX_FOLDERS) {
                free(item);
                return perr(p, "too many folders");
            }
            char **nf = realloc(a->folders, (a->nfolders + 1) * sizeof *nf);
            char *copy = tern_strdup(t);
            if (!nf || !copy) {
                free(nf == a->folders ? NULL : nf);
                free(copy);
                free(item);
                return tern_fail(p->err, TERN_ENOMEM, "out of memory");
            }
            a->folders = nf;
            a->folders[a->nfolders++] = copy;
        }
        free(item);
        s += len;
        if (*s == ',')
            s++;
    }
    if (a->nfolders == 0)
        return perr(p, "'folders' needs at least one folder name");
    return TERN_OK;
}

static enum tern_rc set_value(struct parser *p, void *base, const struct key_def *k, char *v)
{
    void *field = (char *)base + k->offset;
    switch (k->type) {
    case K_STR: {
        if (!*v)
            return perr(p, "empty value for '%s'", k->name);
        char *copy = tern_strdup(v);
        if (!copy)
            return tern_fail(p->err, TERN_ENOMEM, "out of memory");
        *(char **)field = copy;
        return TERN_OK;
    }
    case K_UINT: {
        uint64_t n;
        if (!tern_parse_u64(v, strlen(v), k->max, &n))
            return tern_fail(p->err, TERN_ECONFIG,
                             "%s:%u: '%s' must be a whole number from 0 to %u, not '%s'", p->name,
                             p->line, k->name, k->max, v);
        *(unsigned *)field = (unsigned)n;
        return TERN_OK;
    }
    case K_BOOL:
        if (!config_parse_bool(v, (bool *)field))
            return perr(p, "'%s' must be yes or no, not '%s'", k->name, v);
        return TERN_OK;
    case K_INCOMING:
        if (!tern_strcasecmp(v, "imap"))
            *(enum acct_incoming *)field = INCOMING_IMAP;
        else if (!tern_strcasecmp(v, "pop3"))
            *(enum acct_incoming *)field = INCOMING_POP3;
        else
            return perr(p, "'%s' must be imap or pop3, not '%s'", k->name, v);
        return TERN_OK;
    case K_TLS:
        if (!tern_strcasecmp(v, "starttls"))
            *(enum acct_tls *)field = ACCT_TLS_STARTTLS;
        else if (!tern_strcasecmp(v, "implicit"))
            *(enum acct_tls *)field = ACCT_TLS_IMPLICIT;
        else
            return perr(p, "'%s' must be starttls or implicit (there is no plaintext mode), not '%s'",
                        k->name, v);
        return TERN_OK;
    case K_AUTH:
        if (!tern_strcasecmp(v, "password"))
            *(enum acct_auth *)field = ACCT_AUTH_PASSWORD;
        else if (!tern_strcasecmp(v, "xoauth2"))
            *(enum acct_auth *)field = ACCT_AUTH_XOAUTH2;
        else
            return perr(p, "'%s' must be password or xoauth2, not '%s'", k->name, v);
        return TERN_OK;
    case K_FOLDERS:
        return set_folders(p, base, v);
    case K_LIST: {
        /* the count lives right after the array pointer */
        char ***list = (char ***)field;
        size_t *count = (size_t *)((char *)field + sizeof(char **));
        if (!*v)
            return perr(p, "empty value for '%s'", k->name);
        if (*count >= CONFIG_MAX_LIST)
            return perr(p, "too many '%s' lines", k->name);
        char **nl = realloc(*list, (*count + 1) * sizeof *nl);
        if (!nl)
            return tern_fail(p->err, TERN_ENOMEM, "out of memory");
        *list = nl;
        if (!(nl[*count] = tern_strdup(v)))
            return tern_fail(p->err, TERN_ENOMEM, "out of memory");
        (*count)++;
        return TERN_OK;
    }
    }
    return TERN_EINTERNAL;
}

static enum tern_rc handle_key(struct parser *p, char *key, char *value)
{
    const struct key_def *table = p->acct ? account_keys : general_keys;
    size_t n = p->acct ? NKEYS(account_keys) : NKEYS(general_keys);
    bool *seen = p->acct ? p->seen : p->gen_seen;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, key) != 0)
            continue;
        if (seen[i] && table[i].type != K_LIST)
            return tern_fail(p->err, TERN_ECONFIG, "%s:%u: '%s' given twice in [%s%s]", p->name,
                             p->line, key, p->acct ? "account " : "", section_label(p));
        seen[i] = true;
        return set_value(p, p->acct ? (void *)p->acct : (void *)p->cfg, &table[i], value);
    }
    return tern_fail(p->err, TERN_ECONFIG, "%s:%u: unknown key '%s' in [%s%s]", p->name, p->line,
                     key, p->acct ? "account " : "", section_label(p));
}

bool config_account_name_ok(const char *s)
{
    /* The name becomes a directory under the data dir and appears in
     * command lines: keep it to a safe alphabet. */
    if (!*s || strlen(s) > 64 || s[0] == '.' || s[0] == '-')
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@' || c == '+'))
            return false;
    }
    return true;
}

static enum tern_rc finish_account(struct parser *p);

static enum tern_rc open_section(struct parser *p, char *hdr)
{
    enum tern_rc rc = finish_account(p);
    if (rc)
        return rc;
    hdr = trim(hdr);
    if (!strcmp(hdr, "general")) {
        p->acct = NULL;
        return TERN_OK;
    }
    if (strncmp(hdr, "account", 7) != 0 || (hdr[7] != ' ' && hdr[7] != '\t'))
        return perr(p, "unknown section [%s] (expected [general] or [account NAME])", hdr);
    char *name = unquote(trim(hdr + 7));
    if (!config_account_name_ok(name))
        return perr(p, "bad account name '%s' (letters, digits, . _ - @ + only)", name);
    for (size_t i = 0; i < p->cfg->naccounts; i++)
        if (!strcmp(p->cfg->accounts[i].name, name))
            return perr(p, "account '%s' defined twice", name);
    if (p->cfg->naccounts >= CONFIG_MAX_ACCOUNTS)
        return perr(p, "too many accounts");
    struct tern_account *na =
        realloc(p->cfg->accounts, (p->cfg->naccounts + 1) * sizeof *na);
    if (!na)
        return tern_fail(p->err, TERN_ENOMEM, "out of memory");
    p->cfg->accounts = na;
    struct tern_account *a = &na[p->cfg->naccounts++];
    memset(a, 0, sizeof *a);
    a->name = tern_strdup(name);
    if (!a->name)
        return tern_fail(p->err, TERN_ENOMEM, "out of memory");
    a->line = p->line;
    a->save_sent = true;
    p->acct = a;
    memset(p->seen, 0, sizeof p->seen);
    return TERN_OK;
}

static bool seen_key(const struct parser *p, const char *key)
{
    for (size_t i = 0; i < NKEYS(account_keys); i++)
        if (!strcmp(account_keys[i].name, key))
            return p->seen[i];
    return false;
}

static enum tern_rc dup_default(struct parser *p, char **dst, const char *src)
{
    if (*dst || !src)
        return TERN_OK;
    *dst = tern_strdup(src);
    return *dst ? TERN_OK : tern_fail(p->err, TERN_ENOMEM, "out of memory");
}

/* Validate the section just ended and fill in defaults. */
static enum tern_rc finish_account(struct parser *p)
{
    struct tern_account *a = p->acct;
    if (!a)
        return TERN_OK;
    unsigned save_line = p->line;
    p->line = a->line;
    static const char *required[] = {"address", "incoming", "host"};
    for (size_t i = 0; i < NKEYS(required); i++)
        if (!seen_key(p, required[i]))
            return tern_fail(p->err, TERN_ECONFIG, "%s:%u: [account %s] is missing the key '%s'",
                             p->name, a->line, a->name, required[i]);
    if (!strchr(a->address, '@') || tern_has_crlf(a->address, SIZE_MAX))
        return tern_fail(p->err, TERN_ECONFIG, "%s:%u: [account %s] 'address' is not an email address",
                         p->name, a->line, a->name);
    if (!a->password_command && !a->password)
        return tern_fail(p->err, TERN_ECONFIG,
                         "%s:%u: [account %s] is missing the key 'password_command'", p->name,
                         a->line, a->name);
    if (a->password_command && a->password)
        return tern_fail(p->err, TERN_ECONFIG,
                         "%s:%u: [account %s] has both 'password' and 'password_command'",
                         p->name, a->line, a->name);
    if ((a->password || a->smtp_password) && !p->cfg->file_private)
        return tern_fail(p->err, TERN_ECONFIG,
                         "%s:%u: [account %s] has a literal password but the file is readable by "
                         "group or others (chmod 600 it, or use password_command)",
                         p->name, a->line, a->name);
    if (!seen_key(p, "tls"))
        a->tls = ACCT_TLS_STARTTLS;
    if (!a->port)
        a->port = config_default_port(a->incoming == INCOMING_IMAP ? 0 : 1, a->tls);
    if (!a->timeout)
        a->timeout = 60;
    enum tern_rc rc = TERN_OK;
    if (!rc)
        rc = dup_default(p, &a->user, a->address);
    if (a->smtp_host) {
        if (!seen_key(p, "smtp_tls"))
            a->smtp_tls = ACCT_TLS_STARTTLS;
        if (!a->smtp_port)
            a->smtp_port = config_default_port(2, a->smtp_tls);
        if (!seen_key(p, "smtp_auth"))
            a->smtp_auth = a->auth;
        if (!rc)
            rc = dup_default(p, &a->smtp_user, a->user);
        if (!rc && !a->smtp_password)
            rc = dup_default(p, &a->smtp_password_command, a->password_command);
        if (!rc && !a->smtp_password_command)
            rc = dup_default(p, &a->smtp_password, a->password);
    }
    if (!rc)
        rc = config_data_dirs(a, p->err);
    p->line = save_line;
    p->acct = NULL;
    return rc;
}

enum tern_rc config_parse(const char *name, const char *text, size_t n, bool private_file,
                          struct tern_config **out, struct tern_err *err)
{
    *out = NULL;
    if (n > CONFIG_MAX_BYTES)
        return tern_fail(err, TERN_ECONFIG, "%s: file too large", name);
    if (memchr(text, '\0', n))
        return tern_fail(err, TERN_ECONFIG, "%s: contains a NUL byte", name);
    struct tern_config *cfg = calloc(1, sizeof *cfg);
    char *copy = tern_strndup(text, n);
    if (!cfg || !copy || !(cfg->path = tern_strdup(name))) {
        free(copy);
        config_free(&cfg);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    cfg->file_private = private_file;
    cfg->check_interval = 300;
    struct parser p = {.name = name, .cfg = cfg, .err = err};
    enum tern_rc rc = TERN_OK;
    char *line = copy;
    while (!rc && line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        p.line++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';') {
            /* comment or blank */
        } else if (*s == '[') {
            char *end = strrchr(s, ']');
            if (!end || end[1] != '\0')
                rc = perr(&p, "section header without closing ']'");
            else {
                *end = '\0';
                rc = open_section(&p, s + 1);
            }
        } else {
            char *eq = strchr(s, '=');
            if (!eq)
                rc = perr(&p, "expected 'key = value', got '%s'", s);
            else {
                *eq = '\0';
                char *key = trim(s);
                char *value = unquote(trim(eq + 1));
                if (!*key)
                    rc = perr(&p, "missing key before '='");
                else
                    rc = handle_key(&p, key, value);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!rc) {
        p.line++;
        rc = finish_account(&p);
    }
    if (!rc && cfg->default_account && !config_account(cfg, cfg->default_account))
        rc = tern_fail(err, TERN_ECONFIG, "%s: default_account '%s' is not defined", name,
                       cfg->default_account);
    explicit_bzero(copy, n);
    free(copy);
    if (rc) {
        config_free(&cfg);
        return rc;
    }
    *out = cfg;
    return TERN_OK;
}

enum tern_rc config_load(const char *path, struct tern_config **out, struct tern_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tern_fail(err, errno == ENOENT ? TERN_ENOTFOUND : TERN_ECONFIG,
                         "cannot read config file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tern_fail(err, TERN_ECONFIG, "%s: not a regular file", path);
    }
    struct tbuf b;
    tbuf_init(&b, CONFIG_MAX_BYTES + 1);
    char chunk[4096];
    size_t got;
    enum tern_rc rc = TERN_OK;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = tbuf_append(&b, chunk, got);
    bool read_err = ferror(f);
    fclose(f);
    if (rc == TERN_EPROTO)
        rc = tern_fail(err, TERN_ECONFIG, "%s: file too large", path);
    else if (rc)
        rc = tern_fail(err, rc, "out of memory");
    else if (read_err)
        rc = tern_fail(err, TERN_ECONFIG, "%s: read error", path);
    if (!rc) {
        bool private_file = (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
        rc = config_parse(path, b.data ? b.data : "", b.len, private_file, out, err);
    }
    if (b.data)
        explicit_bzero(b.data, b.len);
    tbuf_free(&b);
    return rc;
}

static void free_account(struct tern_account *a)
{
    free(a->name);
    free(a->address);
    free(a->display_name);
    free(a->host);
    free(a->user);
    free(a->password_command);
    tern_free_secret(a->password);
    free(a->ca_file);
    free(a->pin);
    free(a->data_dir);
    free(a->maildir);
    for (size_t i = 0; i < a->nfolders; i++)
        free(a->folders[i]);
    free(a->folders);
    free(a->smtp_host);
    free(a->smtp_user);
    free(a->smtp_password_command);
    tern_free_secret(a->smtp_password);
    free(a->sent_folder);
}

void config_free(struct tern_config **pcfg)
{
    if (!pcfg || !*pcfg)
        return;
    struct tern_config *cfg = *pcfg;
    for (size_t i = 0; i < cfg->naccounts; i++)
        free_account(&cfg->accounts[i]);
    free(cfg->accounts);
    free(cfg->path);
    free(cfg->default_account);
    free(cfg->html_filter);
    for (size_t i = 0; i < cfg->nbinds; i++)
        free(cfg->binds[i]);
    free(cfg->binds);
    for (size_t i = 0; i < cfg->ncolors; i++)
        free(cfg->colors[i]);
    free(cfg->colors);
    free(cfg);
    *pcfg = NULL;
}

const struct tern_account *config_account(const struct tern_config *cfg, const char *name)
{
    if (!cfg || cfg->naccounts == 0)
        return NULL;
    if (!name)
        name = cfg->default_account;
    if (!name)
        return &cfg->accounts[0];
    for (size_t i = 0; i < cfg->naccounts; i++)
        if (!strcmp(cfg->accounts[i].name, name))
            return &cfg->accounts[i];
    return NULL;
}
