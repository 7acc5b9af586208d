/*
 * core/account — an account as the rest of tern sees it: a config section
 * plus the driver chosen by `incoming`, its local index and data dir.
 * cmd/ and ui/ call these functions and never branch on POP3 versus IMAP;
 * where a driver lacks an operation they test `caps`.
 *
 *   account.c  open/close, dispatch to the driver table, per-account lock
 *   fetch.c    the `tern fetch` flow for one account (lock, sync, log)
 *   log.c      the per-account fetch log (appended, bounded in size)
 *
 * Drivers (core/pop3, core/imap) each export one `const struct acct_driver`.
 */
#ifndef TERN_ACCOUNT_LIB_H
#define TERN_ACCOUNT_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/conn/lib.h"
#include "core/driver/lib.h"

extern const struct acct_driver pop3_driver;
extern const struct acct_driver imap_driver;

/* The driver for a config section. */
const struct acct_driver *acct_driver_for(const struct tern_account *cfg);

#endif
