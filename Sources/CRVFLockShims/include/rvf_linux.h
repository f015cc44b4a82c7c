#ifndef RVF_LINUX_H
#define RVF_LINUX_H

// Linux interfaces that Swift's Glibc module does not import (O_PATH, timerfd,
// statx), each as a plain function with a fixed signature.

#ifdef __cplusplus
extern "C" {
#endif

/// Flags that open a directory only as an anchor for *at() calls: O_PATH |
/// O_DIRECTORY | O_CLOEXEC where O_PATH exists, else O_RDONLY | O_DIRECTORY | O_CLOEXEC.
int rvf_directory_anchor_flags(void);

/// A monotonic timerfd, close-on-exec and non-blocking; -1 and errno on failure.
int rvf_timerfd_create(void);

/// Arms `timer` to expire once at `deadline_ns` on CLOCK_MONOTONIC (absolute),
/// or disarms it when `deadline_ns` is 0. Returns timerfd_settime's result.
int rvf_timerfd_arm(int timer, unsigned long long deadline_ns);

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of rvf_timerfd_arm.
unsigned long long rvf_monotonic_ns(void);

/// The birth time of the open file, from statx(STATX_BTIME). Returns 1 and sets
/// the fields when the file system records it, 0 when it does not, -1 and errno
/// when statx fails.
int rvf_birth_time(int descriptor, long long *seconds, unsigned int *nanoseconds);

/// CLOCK_BOOTTIME now, in nanoseconds: time since boot, suspend included (the
/// clock of a process's start time in /proc/PID/stat).
unsigned long long rvf_boot_clock_ns(void);

/// sysconf(_SC_CLK_TCK): the unit of /proc/PID/stat's times, per second.
long rvf_clock_ticks_per_second(void);

/// CLOCK_REALTIME now, in nanoseconds since the epoch (0 before 1970).
unsigned long long rvf_wall_clock_ns(void);

/// linkat(descriptor, "", directory, name, AT_EMPTY_PATH): gives an open file
/// (an O_TMPFILE) a name. Kernels before 6.10 refuse it without
/// CAP_DAC_READ_SEARCH, with ENOENT.
int rvf_link_open_file(int descriptor, int directory, const char *name);

/// renameat2(..., RENAME_NOREPLACE): gives `source` the name `target` only if
/// nothing has that name, failing with EEXIST otherwise. Unlike link(), it needs
/// no ownership of the file (fs.protected_hardlinks does not apply).
int rvf_rename_noreplace(int directory, const char *source, const char *target);

/// renameat2(..., RENAME_EXCHANGE): swaps the names `first` and `second`
/// atomically; both must exist. EINVAL where the file system cannot (NFS).
int rvf_rename_exchange(int directory, const char *first, const char *second);

/// Starts a detached thread running start(context), with a stack of
/// `stack_size` bytes (0: the default). Returns pthread_create's result.
int rvf_start_detached_thread(void *(*start)(void *), void *context, unsigned long stack_size);

#ifdef __cplusplus
}
#endif

#endif
