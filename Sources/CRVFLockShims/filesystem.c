#define _GNU_SOURCE
#include "filesystem.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

int rvf_statfs_type(const char *path, unsigned long long *type) {
    struct statfs info;
    int result;
    do {
        result = statfs(path, &info);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *type = (unsigned long long)info.f_type;
    }
    return result;
}

