/* core/maildir internals shared by maildir.c, deliver.c and message.c. */
#ifndef TERN_MAILDIR_PRIVATE_H
#define TERN_MAILDIR_PRIVATE_H

#include "lib.h"

struct maildir {
    char *path; /* owned */
    int dirfd;  /* the Maildir itself */
    int tmpfd;
    int newfd;
    int curfd;
    enum maildir_sync mode;
    bool dirty_new; /* entries added/removed in new/ since the last flush */
    bool dirty_cur;
    char host[256]; /* sanitised host name for unique names */
};

/* fsync a directory fd; TERN_EIO with err set on failure. */
enum tern_rc maildir_sync_dir(int fd, const char *what, struct tern_err *err);

#endif
