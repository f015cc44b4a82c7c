#define _GNU_SOURCE
#include "CRVFLockShims.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/vfs.h>
#endif

int rvf_o_tmpfile_rdwr(void) {
#if defined(O_TMPFILE)
    return O_TMPFILE | O_RDWR;
#else
    return -1;
#endif
}

int rvf_set_parent_death_signal(int signal) {
#if defined(__linux__)
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
#else
    (void)signal;
    errno = ENOSYS;
    return -1;
#endif
}

long rvf_pid_max(void) {
#if defined(__linux__)
    FILE *file = fopen("/proc/sys/kernel/pid_max", "re");
    if (file == NULL) {
        return 0;
    }
    long value = 0;
    if (fscanf(file, "%ld", &value) != 1) {
        value = 0;
    }
    fclose(file);
    return value;
#else
    return 99999; /* Darwin's PID_MAX */
#endif
}

int rvf_flock(int descriptor, int operation) {
    return flock(descriptor, operation);
}

int rvf_pipe_cloexec_nonblock(int descriptors[2]) {
#if defined(__linux__)
    return pipe2(descriptors, O_CLOEXEC | O_NONBLOCK);
#else
    if (pipe(descriptors) == -1) {
        return -1;
    }
    for (int index = 0; index < 2; index++) {
        fcntl(descriptors[index], F_SETFD, FD_CLOEXEC);
        fcntl(descriptors[index], F_SETFL, fcntl(descriptors[index], F_GETFL) | O_NONBLOCK);
    }
    return 0;
#endif
}

int rvf_fstatfs_type(int descriptor, unsigned long long *type) {
#if defined(__linux__)
    struct statfs info;
    int result;
    do {
        result = fstatfs(descriptor, &info);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *type = (unsigned long long)info.f_type;
    }
    return result;
#else
    (void)descriptor;
    (void)type;
    errno = ENOSYS;
    return -1;
#endif
}
