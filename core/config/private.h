#ifndef TERN_CONFIG_PRIVATE_H
#define TERN_CONFIG_PRIVATE_H

#include "lib.h"

/* proto: 0 IMAP, 1 POP3, 2 SMTP */
unsigned config_default_port(int proto, enum acct_tls tls);
/* Fill a->data_dir and, when unset, a->maildir from XDG_DATA_HOME/HOME. */
enum tern_rc config_data_dirs(struct tern_account *a, struct tern_err *err);
bool config_parse_bool(const char *v, bool *out);

#endif
