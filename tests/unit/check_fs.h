/*
 * File-system helpers for unit tests that work in a scratch directory.
 */
#ifndef TERN_TEST_CHECK_FS_H
#define TERN_TEST_CHECK_FS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Remove path and, when it is a directory, everything below it. */
static inline void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[1024];
            int k = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            if (k > 0 && (size_t)k < sizeof sub)
                rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

#endif
