#define _GNU_SOURCE
#include "CRVFLockShims.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/vfs.h>

int rvf_o_tmpfile_rdwr(void) {
#if defined(O_TMPFILE)
    return O_TMPFILE | O_RDWR;
#else
    return -1;
#endif
}

int rvf_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

long rvf_pid_max(void) {
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
}

int rvf_flock(int descriptor, int operation) {
    return flock(descriptor, operation);
}

int rvf_pipe_cloexec_nonblock(int descriptors[2]) {
    return pipe2(descriptors, O_CLOEXEC | O_NONBLOCK);
}

int rvf_fstatfs_type(int descriptor, unsigned long long *type) {
    struct statfs info;
    int result;
    do {
        result = fstatfs(descriptor, &info);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *type = (unsigned long long)info.f_type;
    }
    return result;
}
