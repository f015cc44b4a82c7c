#define _GNU_SOURCE
#include "CRVFLockShims.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/mman.h>
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

// The first word says whether the second holds this process's pid: zero in a
// fresh page and in a forked child's copy, which the kernel wipes.
struct pid_cache {
    int known;
    pid_t pid;
};

static struct pid_cache *pid_cache = NULL;
static pthread_once_t pid_cache_once = PTHREAD_ONCE_INIT;

static void make_pid_cache(void) {
#if defined(MADV_WIPEONFORK)
    void *page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return;
    }
    if (madvise(page, (size_t)sysconf(_SC_PAGESIZE), MADV_WIPEONFORK) != 0) {
        munmap(page, (size_t)sysconf(_SC_PAGESIZE));
        return;
    }
    pid_cache = page;
#endif
}

pid_t rvf_current_pid(void) {
    pthread_once(&pid_cache_once, make_pid_cache);
    struct pid_cache *cache = pid_cache;
    if (cache == NULL) {
        return getpid();
    }
    if (__atomic_load_n(&cache->known, __ATOMIC_ACQUIRE)) {
        return cache->pid;
    }
    // Every thread that gets here writes the same pid.
    pid_t pid = getpid();
    cache->pid = pid;
    __atomic_store_n(&cache->known, 1, __ATOMIC_RELEASE);
    return pid;
}
