#ifndef RVF_COMMAND_H
#define RVF_COMMAND_H

// Starting and supervising the command that `rvf-lock exec` runs under the lock.
// In C because the child's side must run between clone() and execve() with no
// Swift runtime in it, and because signal handlers must be async-signal-safe.

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Where `rvf_spawn_command` failed, when it did.
enum rvf_spawn_step {
    RVF_SPAWN_STARTED = 0,
    /// clone() failed in the parent (errno: EAGAIN, ENOMEM).
    RVF_SPAWN_CLONE = 1,
    /// prctl(PR_SET_PDEATHSIG) failed in the child.
    RVF_SPAWN_PARENT_DEATH_SIGNAL = 2,
    /// The child found that its parent was no longer the caller (it died meanwhile).
    RVF_SPAWN_PARENT_GONE = 3,
    /// setpgid(0, 0) failed in the child.
    RVF_SPAWN_PROCESS_GROUP = 4,
    /// Clearing close-on-exec on the inherited descriptor failed in the child.
    RVF_SPAWN_INHERIT = 5,
    /// execvpe() failed (errno: ENOENT, EACCES, ENOEXEC, ...).
    RVF_SPAWN_EXEC = 6,
};

/// Starts `argv[0]` (searched in PATH as execvp does) as a child of the calling
/// thread, which should be the main thread: the kernel sends the parent-death
/// signal when the thread that created the child exits.
///
/// The child, before it executes the command: asks for `parent_death_signal`
/// when its parent dies, then checks that its parent is still the caller (so a
/// caller killed meanwhile never leaves the command running); moves into a
/// process group of its own if `new_process_group`; clears close-on-exec on
/// `inherited_descriptor` (in its own descriptor table only) and sets
/// `environment_name`=`inherited_descriptor` in its environment; resets every
/// signal the caller handles, and those in `default_signals`, to the default
/// action; and starts with an empty signal mask.
///
/// Uses clone(CLONE_VM | CLONE_VFORK), as posix_spawn does: no copy of the
/// caller's page tables, and failures reported through shared memory.
///
/// Returns the child's pid, or -1 with `*failed_step` and `*failure_errno` set;
/// a child that failed has been reaped already.
pid_t rvf_spawn_command(const char *const argv[], int inherited_descriptor, const char *environment_name,
                        int parent_death_signal, int new_process_group, const int *default_signals,
                        int default_signal_count, int *failed_step, int *failure_errno);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to this
/// process, so that it can wait for all of them. -1 and errno where unsupported.
int rvf_set_child_subreaper(void);

/// Whether this process runs as a terminal's job: it has a controlling terminal,
/// and its process group is the terminal's foreground group or it leads its
/// own group (a job an interactive shell started, perhaps in the background,
/// that `fg` may bring forward). 0 when it has no controlling terminal.
int rvf_is_terminal_job(void);

/// What a relay handler writes to its pipe for each signal caught: 16 bytes,
/// written with one write(2), so records never interleave.
struct rvf_signal_record {
    int32_t signal;
    /// siginfo's si_code: SI_USER (0) from kill(2), SI_KERNEL (0x80) from a terminal, ...
    int32_t code;
    /// The sender's pid, for signals sent by a process (si_code <= 0); else 0.
    int32_t sender;
    int32_t reserved;
};

/// Installs a handler for `signal` that writes an `rvf_signal_record` to
/// `write_descriptor` (non-blocking) and does nothing else. SA_RESTART, so the
/// library's threads never see EINTR for a signal meant for the command.
/// Returns sigaction's result.
int rvf_install_relay_handler(int signal, int write_descriptor);

/// Whether `signal` is currently ignored (SIG_IGN) in this process.
int rvf_signal_is_ignored(int signal);

/// Sets `signal` to SIG_IGN (1) or SIG_DFL (0) in this process.
int rvf_set_signal_ignored(int signal, int ignored);

/// pidfd_open(2), or -1 with errno ENOSYS where the kernel or headers lack it.
int rvf_pidfd_open(pid_t pid);

/// pidfd_send_signal(2), or -1 with errno ENOSYS.
int rvf_pidfd_send_signal(int pidfd, int signal);

#ifdef __cplusplus
}
#endif

#endif
