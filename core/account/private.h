/*
 * core/account internals shared by account.c and message.c; not part of
 * the module's interface (see lib.h).
 */
#ifndef TERN_ACCOUNT_PRIVATE_H
#define TERN_ACCOUNT_PRIVATE_H

#include "core/base/lib.h"

/* The account lock (lib.h): flock(LOCK_EX|LOCK_NB) on <data_dir>/lock,
 * never waited for (cron runs must not pile up), dropped by the kernel
 * when the process exits or dies. On success *fd holds it (close() it to
 * release); on failure *fd is -1. TERN_ELOCKED when another tern holds
 * it, TERN_EIO, TERN_ENOMEM. */
enum tern_rc acct_lock(const char *data_dir, int *fd, struct tern_err *err);

#endif
