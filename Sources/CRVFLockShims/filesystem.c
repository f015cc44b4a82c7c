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

int rvf_reports_birth_time(int descriptor) {
#if defined(__linux__) && defined(STATX_BTIME)
    struct statx info;
    if (statx(descriptor, "", AT_EMPTY_PATH, STATX_BTIME, &info) == -1) {
        return -1;
    }
    return (info.stx_mask & STATX_BTIME) ? 1 : 0;
#else
    (void)descriptor;
    errno = ENOSYS;
    return -1;
#endif
}
