#define _GNU_SOURCE
#include "rvf_linux.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

int rvf_directory_anchor_flags(void) {
#if defined(O_PATH)
    return O_PATH | O_DIRECTORY | O_CLOEXEC;
#else
    return O_RDONLY | O_DIRECTORY | O_CLOEXEC;
#endif
}

int rvf_timerfd_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
}

int rvf_timerfd_arm(int timer, unsigned long long deadline_ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
    spec.it_value.tv_nsec = (long)(deadline_ns % 1000000000ULL);
    return timerfd_settime(timer, deadline_ns == 0 ? 0 : TFD_TIMER_ABSTIME, &spec, NULL);
}

unsigned long long rvf_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

unsigned long long rvf_boot_clock_ns(void) {
    struct timespec now;
#if defined(CLOCK_BOOTTIME)
    clock_gettime(CLOCK_BOOTTIME, &now);
#else
    clock_gettime(CLOCK_MONOTONIC, &now);
#endif
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

long rvf_clock_ticks_per_second(void) { return sysconf(_SC_CLK_TCK); }

unsigned long long rvf_wall_clock_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec < 0) {
        return 0;
    }
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

int rvf_birth_time(int descriptor, long long *seconds, unsigned int *nanoseconds) {
#if defined(STATX_BTIME)
    struct statx info;
    if (statx(descriptor, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BTIME, &info) == -1) {
        return -1;
    }
    if (!(info.stx_mask & STATX_BTIME)) {
        return 0;
    }
    *seconds = (long long)info.stx_btime.tv_sec;
    *nanoseconds = info.stx_btime.tv_nsec;
    return 1;
#else
    (void)descriptor;
    (void)seconds;
    (void)nanoseconds;
    return 0;
#endif
}

int rvf_link_open_file(int descriptor, int directory, const char *name) {
#if defined(AT_EMPTY_PATH)
    return linkat(descriptor, "", directory, name, AT_EMPTY_PATH);
#else
    (void)descriptor;
    (void)directory;
    (void)name;
    errno = ENOENT;
    return -1;
#endif
}

int rvf_rename_noreplace(int directory, const char *source, const char *target) {
#if defined(RENAME_NOREPLACE)
    return renameat2(directory, source, directory, target, RENAME_NOREPLACE);
#else
    (void)directory;
    (void)source;
    (void)target;
    errno = ENOSYS;
    return -1;
#endif
}

int rvf_rename_exchange(int directory, const char *first, const char *second) {
#if defined(RENAME_EXCHANGE)
    return renameat2(directory, first, directory, second, RENAME_EXCHANGE);
#else
    (void)directory;
    (void)first;
    (void)second;
    errno = EINVAL;
    return -1;
#endif
}

int rvf_start_detached_thread(void *(*start)(void *), void *context, unsigned long stack_size) {
    pthread_attr_t attributes;
    int result = pthread_attr_init(&attributes);
    if (result != 0) {
        return result;
    }
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    if (stack_size != 0) {
        pthread_attr_setstacksize(&attributes, stack_size);
    }
    pthread_t thread;
    result = pthread_create(&thread, &attributes, start, context);
    pthread_attr_destroy(&attributes);
    return result;
}
