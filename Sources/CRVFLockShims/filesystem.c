#define _GNU_SOURCE
#include "filesystem.h"

#include <errno.h>
#include <fcntl.h>
#if defined(__linux__)
#include <sys/stat.h>
#include <sys/vfs.h>
#endif

int rvf_statfs_type(const char *path, unsigned long long *type) {
#if defined(__linux__)
    struct statfs info;
    int result;
    do {
        result = statfs(path, &info);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *type = (unsigned long long)info.f_type;
    }
    return result;
#else
    (void)path;
    (void)type;
    errno = ENOSYS;
    return -1;
#endif
}

