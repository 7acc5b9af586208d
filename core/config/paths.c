#include "lib.h"
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned config_default_port(int proto, enum acct_tls tls)
{
    static const unsigned ports[3][2] = {{143, 993}, {110, 995}, {587, 465}};
    return ports[proto][tls == ACCT_TLS_IMPLICIT];
}

/* $VAR if set and absolute (XDG says relative values are invalid), else
 * $HOME/fallback. New string, or NULL with err set. */
static char *xdg_dir(const char *var, const char *fallback, struct tern_err *err)
{
    const char *v = getenv(var);
    struct tbuf b;
    tbuf_init(&b, 4096);
    enum tern_rc rc;
    if (v && v[0] == '/')
        rc = tbuf_puts(&b, v);
    else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') {
            tern_fail(err, TERN_ECONFIG, "neither $%s nor $HOME is set", var);
            return NULL;
        }
        rc = tbuf_printf(&b, "%s/%s", home, fallback);
    }
    if (rc) {
        tbuf_free(&b);
        tern_fail(err, TERN_ECONFIG, "path too long");
        return NULL;
    }
    return tbuf_steal(&b);
}

char *config_find_path(const char *explicit_path, struct tern_err *err)
{
    if (explicit_path)
        return tern_strdup(explicit_path);
    const char *env = getenv("TERN_CONFIG");
    if (env && *env)
        return tern_strdup(env);
    char *dir = xdg_dir("XDG_CONFIG_HOME", ".config", err);
    if (!dir)
        return NULL;
    struct tbuf b;
    tbuf_init(&b, 4096);
    enum tern_rc rc = tbuf_printf(&b, "%s/tern/config", dir);
    free(dir);
    if (rc) {
        tbuf_free(&b);
        tern_fail(err, TERN_ECONFIG, "path too long");
        return NULL;
    }
    return tbuf_steal(&b);
}

enum tern_rc config_data_dirs(struct tern_account *a, struct tern_err *err)
{
    char *base = xdg_dir("XDG_DATA_HOME", ".local/share", err);
    if (!base)
        return TERN_ECONFIG;
    struct tbuf b;
    tbuf_init(&b, 4096);
    enum tern_rc rc = tbuf_printf(&b, "%s/tern/%s", base, a->name);
    free(base);
    if (rc) {
        tbuf_free(&b);
        return tern_fail(err, TERN_ECONFIG, "data directory path too long");
    }
    a->data_dir = tbuf_steal(&b);
    if (!a->maildir) {
        tbuf_init(&b, 4096);
        if (tbuf_printf(&b, "%s/Maildir", a->data_dir)) {
            tbuf_free(&b);
            return tern_fail(err, TERN_ECONFIG, "maildir path too long");
        }
        a->maildir = tbuf_steal(&b);
    } else if (a->maildir[0] == '~' && a->maildir[1] == '/') {
        const char *home = getenv("HOME");
        tbuf_init(&b, 4096);
        if (!home || tbuf_printf(&b, "%s%s", home, a->maildir + 1)) {
            tbuf_free(&b);
            return tern_fail(err, TERN_ECONFIG, "cannot expand maildir '%s'", a->maildir);
        }
        free(a->maildir);
        a->maildir = tbuf_steal(&b);
    }
    return TERN_OK;
}
