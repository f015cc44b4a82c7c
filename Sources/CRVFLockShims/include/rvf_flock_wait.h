#ifndef RVF_FLOCK_WAIT_H
#define RVF_FLOCK_WAIT_H

// Waiting in the kernel's queue for a flock() lock, with a timeout and
// cancellation from another thread.
//
// There is no timed flock(). util-linux `flock -w` interrupts the blocking call
// with SIGALRM; a library cannot own a process-wide timer signal, so this one
// interrupts only the waiting thread: a per-thread POSIX timer
// (SIGEV_THREAD_ID) for the timeout, and pthread_kill for cancellation, both
// with one real-time signal that was unused (SIG_DFL) when first needed. Its
// handler does nothing unless the receiving thread is inside the wait, where it
// jumps out of the blocking call (siglongjmp), so a signal that arrives just
// before the call cannot be lost. Other threads, and the host program's own
// signals, are not disturbed.

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
    /// No real-time signal was free (every one had a handler), or the host program
    /// replaced ours since: the caller must wait another way.
    RVF_FLOCK_WAIT_UNAVAILABLE = 3,
    RVF_FLOCK_WAIT_FAILED = -1,
};

/// Blocks in flock(descriptor, operation) (LOCK_EX or LOCK_SH, without LOCK_NB)
/// until the lock is granted, `timeout_ns` passes (UINT64_MAX: never), or `token`
/// is cancelled. Returns one of the RVF_FLOCK_WAIT_ values; FAILED sets errno.
/// The caller must not already hold a lock on the descriptor's open file.
int rvf_flock_wait(int descriptor, int operation, unsigned long long timeout_ns, rvf_wait_token *token);

/// The real-time signal the waits use, or 0 if none was claimed yet (or none was free).
int rvf_flock_wait_signal(void);

/// Marks the calling process as waiting for the lock file open at `descriptor`
/// (a shared OFD lock on byte 1), so that its holder can tell, when it releases,
/// that someone is queued. 0 on success, -1 and errno where the file system
/// refuses it (NFS, where flock() is emulated with POSIX locks).
int rvf_waiter_mark(int descriptor);
/// Removes this descriptor's waiter mark.
int rvf_waiter_unmark(int descriptor);
/// 1 when another open file has a waiter mark on the file, 0 when none, -1 on error.
int rvf_has_waiters(int descriptor);

#ifdef __cplusplus
}
#endif

#endif
