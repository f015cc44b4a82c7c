#ifndef RVF_FLOCK_WAIT_H
#define RVF_FLOCK_WAIT_H

// Waiting in the kernel's queue for a flock() lock, with a timeout and
// cancellation from another thread.
//
// There is no timed flock(). util-linux `flock -w` interrupts the blocking call
// with SIGALRM; a library cannot own a process-wide timer signal, so this one
// interrupts only the waiting thread: a per-thread POSIX timer
// (SIGEV_THREAD_ID), armed for the timeout and fired early to cancel, with one
// real-time signal that was unused (SIG_DFL) when first needed. The timer's
// signal is queued in advance when the timer is made, so once a wait has its
// timer nothing can keep it from ending; where no timer can be made (no signal
// queue space left under RLIMIT_SIGPENDING, a seccomp profile), the wait
// reports UNAVAILABLE at once and the caller polls instead. The handler does
// nothing unless the receiving thread is inside the wait, where it jumps out of
// the blocking call (siglongjmp), so a signal that arrives just before the call
// cannot be lost. Other threads, and the host program's own signals, are not
// disturbed: if the host installs its own handler on the signal, new waits claim
// another, and rvf_flock_wait_watchdog() reaches waits already blocked.

#ifdef __cplusplus
extern "C" {
#endif

/// Cancels one wait from any thread. Create one per wait, destroy it after.
typedef struct rvf_wait_token rvf_wait_token;

rvf_wait_token *rvf_wait_token_create(void);
void rvf_wait_token_destroy(rvf_wait_token *token);
/// Marks the token cancelled and interrupts a wait using it, now or later.
void rvf_wait_token_cancel(rvf_wait_token *token);
int rvf_wait_token_is_cancelled(const rvf_wait_token *token);

enum {
    RVF_FLOCK_WAIT_GRANTED = 0,
    RVF_FLOCK_WAIT_TIMED_OUT = 1,
    RVF_FLOCK_WAIT_CANCELLED = 2,
    /// Nothing could end the blocking call: no real-time signal was free, no
    /// per-thread timer could be made, or the host program took the signal over
    /// during the wait. The caller must wait another way.
    RVF_FLOCK_WAIT_UNAVAILABLE = 3,
    RVF_FLOCK_WAIT_FAILED = -1,
};

/// Blocks in flock(descriptor, operation) (LOCK_EX or LOCK_SH, without LOCK_NB)
/// until the lock is granted, `timeout_ns` passes (UINT64_MAX: never), or `token`
/// is cancelled. Returns one of the RVF_FLOCK_WAIT_ values; FAILED sets errno.
/// The caller must not already hold a lock on the descriptor's open file.
int rvf_flock_wait(int descriptor, int operation, unsigned long long timeout_ns, rvf_wait_token *token);

/// The real-time signal new waits use, or 0 if none was claimed yet (or none was free).
int rvf_flock_wait_signal(void);

/// Checks that the waits' signal is still this library's. If the host program
/// installed its own handler on it, claims another for new waits and interrupts
/// every wait still blocked with the old one, which then returns UNAVAILABLE.
/// Call it periodically while waits are in progress. Returns -1 when no wait is
/// in progress, else the number of waits interrupted.
int rvf_flock_wait_watchdog(void);

#ifdef __cplusplus
}
#endif

#endif
