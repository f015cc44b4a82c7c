#ifndef RVF_COMMAND_H
#define RVF_COMMAND_H

#if !defined(__linux__)
#error "RVFLock runs on Linux only; see the Protocol article (\"Porting\") for what another system would need"
#endif

// Starting and supervising the command that `rvf-lock exec` runs under the lock.
// In C because the keeper (a fork of a multi-threaded process) and COMMAND's
// child between clone() and execve() must run with no Swift runtime in them, and
// because signal handlers must be async-signal-safe.

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Where starting the keeper or COMMAND failed, when it did.
enum rvf_spawn_step {
    RVF_SPAWN_STARTED = 0,
    /// fork() of the keeper, or clone() of COMMAND, failed (errno: EAGAIN, ENOMEM).
    RVF_SPAWN_CLONE = 1,
    /// prctl(PR_SET_CHILD_SUBREAPER) failed in the keeper.
    RVF_SPAWN_SUBREAPER = 2,
    /// setpgid() failed in COMMAND's child.
    RVF_SPAWN_PROCESS_GROUP = 4,
    /// Clearing close-on-exec on the inherited descriptor failed in COMMAND's child.
    RVF_SPAWN_INHERIT = 5,
    /// execvpe() failed (errno: ENOENT, EACCES, ENOEXEC, ...).
    RVF_SPAWN_EXEC = 6,
};

/// The keeper's reports, sent on the supervision's event channel as
/// `rvf_signal_record`s whose `signal` is one of these (negative, unlike any signal).
/// COMMAND runs: `sender` is its pid; a pidfd on COMMAND comes with it (SCM_RIGHTS),
/// where the kernel has pidfds.
#define RVF_KEEPER_STARTED (-1)
/// COMMAND could not be started: `code` is the `rvf_spawn_step`, `sender` the errno.
#define RVF_KEEPER_FAILED (-2)
/// COMMAND ended (the keeper reaped it): `code` is its wait status, `sender` its pid.
#define RVF_KEEPER_EXITED (-3)
/// No descendant is left, and the keeper has closed its copy of the lock's
/// descriptor: it exits now, and the caller need not wait for that to release the lock.
#define RVF_KEEPER_DONE (-4)

/// Starts the *keeper*: a process between rvf-lock and COMMAND that makes the
/// lock outlive rvf-lock exactly as long as anything COMMAND started lives.
///
/// The keeper is forked from the caller (with every signal blocked, which it
/// keeps: only SIGKILL ends it) and runs only async-signal-safe C. It leaves the
/// caller's process group, becomes a child subreaper, and waits on a *go channel*
/// (`*go_descriptor`), which may be long before the lock is held: the caller
/// takes the lock, writes the keeper's pid into the lock record, then sends the
/// go message (`rvf_keeper_go`) with the lock's descriptor. Then the keeper starts
/// COMMAND, `argv[0]` searched in PATH as execvp does (clone(CLONE_VM | CLONE_VFORK),
/// as posix_spawn does): COMMAND leads a process group of its own or joins the one
/// the go message names; it inherits the lock's descriptor, under the number it has in
/// the caller (close-on-exec cleared in its own descriptor table only), and finds
/// that number in `environment_name`; its
/// environment is the caller's at the fork, with the go message's entries; it
/// starts with the default action for every signal the keeper inherited a handler
/// for and for those in `default_signals`, and an empty signal mask. Neither gets a
/// parent-death signal: when the caller dies, both live on.
///
/// The keeper reports on `report_descriptor`, an `rvf_event_channel` end
/// (RVF_KEEPER_STARTED with a pidfd on COMMAND, or RVF_KEEPER_FAILED; later
/// RVF_KEEPER_EXITED), closes every descriptor but the lock's and that one,
/// reaps every descendant, and when none is left closes the lock's descriptor,
/// reports RVF_KEEPER_DONE and exits 0. If the go channel is closed without a
/// message (the caller gave up, did not get the lock, or died), it exits 1 without
/// starting COMMAND.
///
/// Returns the keeper's pid and the go channel's end in `*go_descriptor`
/// (close-on-exec), or -1 with `*failure_errno` (fork, socket or memory).
pid_t rvf_start_keeper(const char *const argv[], const char *environment_name, const int *default_signals,
                       int default_signal_count, int report_descriptor, int *go_descriptor, int *failure_errno);
/// Tells the keeper to start COMMAND: sends `lock_descriptor` (SCM_RIGHTS), the
/// process group COMMAND joins (0: one of its own), and `environment_length`
/// bytes of environment entries for COMMAND, each "NAME=value" and NUL-terminated,
/// each replacing any of the same name (at most 8 entries, 4096 bytes). 0, or -1
/// and errno (E2BIG; EPIPE or ECONNRESET if the keeper is gone, whose report or
/// exit says why).
int rvf_keeper_go(int go_descriptor, int lock_descriptor, pid_t command_group, const char *environment,
                  size_t environment_length);
/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to this
/// process, so that it can wait for all of them. -1 and errno where unsupported.
int rvf_set_child_subreaper(void);

/// Whether this process runs as a terminal's job: it has a controlling terminal,
/// and its process group is the terminal's foreground group or it leads its
/// own group (a job an interactive shell started, perhaps in the background,
/// that `fg` may bring forward). 0 when it has no controlling terminal.
int rvf_is_terminal_job(void);

/// What a relay handler writes to its pipe for each signal caught, and what the
/// keeper writes there for each report: 16 bytes, written with one write(2), so
/// records never interleave.
struct rvf_signal_record {
    /// The signal, or a keeper's report (RVF_KEEPER_...), or 0 for "the lock was lost".
    int32_t signal;
    /// siginfo's si_code: SI_USER (0) from kill(2), SI_KERNEL (0x80) from a terminal, ...
    int32_t code;
    /// The sender's pid, for signals sent by a process (si_code <= 0); else 0.
    int32_t sender;
    int32_t reserved;
};

/// The supervision's event channel: a connected pair of AF_UNIX SOCK_SEQPACKET
/// sockets, close-on-exec and non-blocking, numbered 10 and above (out of the
/// way of the lock's descriptor's number, which COMMAND gets). Each write(2) of a record is one
/// message, and a message can carry a descriptor (the keeper's pidfd on COMMAND).
/// 0, or -1 and errno.
int rvf_event_channel(int descriptors[2]);

/// Receives one record from an `rvf_event_channel` end without blocking:
/// recvmsg's result (16 for a record; -1 with errno EAGAIN when none is
/// waiting), and in `*passed_descriptor` a descriptor that came with it
/// (close-on-exec), or -1.
ssize_t rvf_receive_event(int descriptor, struct rvf_signal_record *record, int *passed_descriptor);

/// Installs a handler for `signal` that writes an `rvf_signal_record` to
/// `write_descriptor` (non-blocking) and does nothing else. SA_RESTART, so the
/// library's threads never see EINTR for a signal meant for the command.
/// Returns sigaction's result.
int rvf_install_relay_handler(int signal, int write_descriptor);

/// Whether `signal` is currently ignored (SIG_IGN) in this process.
int rvf_signal_is_ignored(int signal);

/// Sets `signal` to SIG_IGN (1) or SIG_DFL (0) in this process.
int rvf_set_signal_ignored(int signal, int ignored);

/// Starts `path` detached from this process: in a session of its own, and not
/// its child (a child that exits at once starts it, so it is reparented away
/// from rvf-lock, which as a subreaper would otherwise wait for it), with
/// `link` as descriptor `link_target` and `envp` as its environment. Returns 0,
/// or the errno of the step that failed (fork, or the execve, reported back
/// through a close-on-exec pipe). Only async-signal-safe calls between the fork
/// and the execve; no handler of this process runs in the children.
int rvf_spawn_detached(const char *path, char *const argv[], char *const envp[], int link, int link_target);

/// pidfd_open(2), or -1 with errno ENOSYS where the kernel or headers lack it.
int rvf_pidfd_open(pid_t pid);

/// pidfd_send_signal(2), or -1 with errno ENOSYS.
int rvf_pidfd_send_signal(int pidfd, int signal);

#ifdef __cplusplus
}
#endif

#endif
