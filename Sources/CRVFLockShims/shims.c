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
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

int rvf_identity_and_mount(int descriptor, unsigned long long *device, unsigned long long *inode,
                           unsigned long long *mount) {
    *mount = 0;
    struct statx extended;
    int result;
    do {
        result = statx(descriptor, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID_UNIQUE, &extended);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *device = (unsigned long long)makedev(extended.stx_dev_major, extended.stx_dev_minor);
        *inode = (unsigned long long)extended.stx_ino;
        if (extended.stx_mask & STATX_MNT_ID_UNIQUE) {
            *mount = (unsigned long long)extended.stx_mnt_id;
        }
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM && errno != EINVAL) {
        return -1;
    }
    // No statx (a kernel before 4.11, or a filter that refuses it): fstat, without the mount.
    struct stat info;
    do {
        result = fstat(descriptor, &info);
    } while (result == -1 && errno == EINTR);
    if (result == 0) {
        *device = (unsigned long long)info.st_dev;
        *inode = (unsigned long long)info.st_ino;
    }
    return result;
}

// Kept per process in a page that the kernel wipes in every child it forks
// (MADV_WIPEONFORK): zero means "not known yet", in a fresh page and in a child's copy.
struct process_cache {
    // Whether `pid` holds this process's pid.
    int pid_known;
    pid_t pid;
    // The writer nonce stream: 0 unseeded, 1 being seeded by one thread, 2 seeded.
    int nonce_state;
    uint64_t nonce_key[2];
    uint64_t nonce_counter;
};

static struct process_cache *process_cache = NULL;
static pthread_once_t process_cache_once = PTHREAD_ONCE_INIT;

static void make_process_cache(void) {
#if defined(MADV_WIPEONFORK)
    void *page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        return;
    }
    if (madvise(page, (size_t)sysconf(_SC_PAGESIZE), MADV_WIPEONFORK) != 0) {
        munmap(page, (size_t)sysconf(_SC_PAGESIZE));
        return;
    }
    process_cache = page;
#endif
}

static struct process_cache *current_process_cache(void) {
    pthread_once(&process_cache_once, make_process_cache);
    return process_cache;
}

pid_t rvf_current_pid(void) {
    struct process_cache *cache = current_process_cache();
    if (cache == NULL) {
        return getpid();
    }
    if (__atomic_load_n(&cache->pid_known, __ATOMIC_ACQUIRE)) {
        return cache->pid;
    }
    // Every thread that gets here writes the same pid.
    pid_t pid = getpid();
    cache->pid = pid;
    __atomic_store_n(&cache->pid_known, 1, __ATOMIC_RELEASE);
    return pid;
}

/// getrandom(2) for the whole buffer; -1 if the kernel cannot give it.
static int fill_random(void *buffer, size_t length) {
    unsigned char *bytes = buffer;
    while (length > 0) {
        ssize_t count = getrandom(bytes, length, 0);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        bytes += count;
        length -= (size_t)count;
    }
    return 0;
}

/// SplitMix64's finalizer: a bijection of 64-bit words that spreads every input bit.
static uint64_t mix64(uint64_t value) {
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
    return value ^ (value >> 31);
}

int rvf_next_writer_nonce(uint64_t *nonce) {
    struct process_cache *cache = current_process_cache();
    if (cache == NULL) {
        return -1;
    }
    int state = __atomic_load_n(&cache->nonce_state, __ATOMIC_ACQUIRE);
    if (state != 2) {
        int expected = 0;
        // One thread seeds; a thread that finds another seeding asks the caller to draw for itself.
        if (state != 0 || !__atomic_compare_exchange_n(&cache->nonce_state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return -1;
        }
        if (fill_random(cache->nonce_key, sizeof cache->nonce_key) != 0) {
            __atomic_store_n(&cache->nonce_state, 0, __ATOMIC_RELEASE);
            return -1;
        }
        __atomic_store_n(&cache->nonce_state, 2, __ATOMIC_RELEASE);
    }
    // Distinct counters give distinct inputs (the step is odd), and the mix is a
    // bijection: no nonce repeats within a process before 2^64 of them.
    uint64_t counter = __atomic_fetch_add(&cache->nonce_counter, 1, __ATOMIC_RELAXED);
    *nonce = mix64(cache->nonce_key[0] + counter * 0x9E3779B97F4A7C15ULL) ^ cache->nonce_key[1];
    return 0;
}
