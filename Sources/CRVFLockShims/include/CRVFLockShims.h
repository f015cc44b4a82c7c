#ifndef CRVFLOCK_SHIMS_H
#define CRVFLOCK_SHIMS_H

#if !defined(__linux__)
#error "RVFLock runs on Linux only; see the Protocol article (\"Porting\") for what another system would need"
#endif

// What Swift's Glibc module does not import: macros defined only under
// _GNU_SOURCE and variadic C functions. Each shim is a plain function so that
// Swift sees a fixed signature.

#include <stdint.h>
#include <sys/types.h>
// fgetxattr and fsetxattr, for RVFLockEtcd's fencing token on a data file.
#include <sys/xattr.h>

#include "filesystem.h"
#include "rvf_flock_wait.h"
#include "rvf_linux.h"

#ifdef __cplusplus
extern "C" {
#endif

/// O_TMPFILE | O_RDWR, or -1 where the platform has no O_TMPFILE.
int rvf_o_tmpfile_rdwr(void);

/// prctl(PR_SET_PDEATHSIG, signal); returns prctl's result (-1 and errno on failure,
/// or where the platform has no parent-death signal).
int rvf_set_parent_death_signal(int signal);

/// flock(2); a plain function because Swift sees `flock` as the struct of fcntl(2) locks.
int rvf_flock(int descriptor, int operation);

/// A pipe whose ends are close-on-exec and non-blocking (pipe2 where it exists).
int rvf_pipe_cloexec_nonblock(int descriptors[2]);

/// fstatfs(2)'s f_type for the file system holding `descriptor`; 0 on success,
/// -1 and errno on failure (and where the platform has no f_type).
int rvf_fstatfs_type(int descriptor, unsigned long long *type);

/// The device and inode of the file open as `descriptor`, and the unique id of the
/// mount it is on (never given to another mount until the next boot; Linux 6.8 and
/// later), or 0 in `mount` where the kernel gives none. 0 on success, -1 and errno.
int rvf_identity_and_mount(int descriptor, unsigned long long *device, unsigned long long *inode,
                           unsigned long long *mount);

/// The kernel's PID limit (one above the largest PID), or 0 if unknown.
long rvf_pid_max(void);

/// getpid(2), asked of the kernel once per process: the answer is kept in a page
/// that the kernel wipes in every child it forks (MADV_WIPEONFORK, Linux 4.14),
/// whichever way the child was made, so that a child asks again. Where the page
/// cannot be made, every call asks the kernel. A child that shares this process's
/// memory (vfork, clone with CLONE_VM) must not call it before it execs: it would
/// read, or leave for its parent, the other's pid.
pid_t rvf_current_pid(void);

/// The next number of this process's writer nonce stream: 0 with it in `nonce`,
/// or -1 when the caller must draw one from the kernel itself (no wiped-on-fork
/// page, no randomness yet, or another thread seeding the stream at this moment).
///
/// The stream is seeded once per process with 128 random bits (getrandom) and
/// kept in the same wiped-on-fork page as the pid, so that a forked child seeds
/// its own: no two numbers of one process are equal, and two processes share one
/// only by chance (2^-64). Not a secret: nothing relies on the numbers being
/// unpredictable. Same caveat as above for children that share this memory.
int rvf_next_writer_nonce(uint64_t *nonce);

#ifdef __cplusplus
}
#endif

#endif
