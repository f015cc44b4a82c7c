#define _GNU_SOURCE
#include "rvf_flock_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#if defined(__linux__)

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

struct rvf_wait_token {
    pthread_mutex_t mutex;
    pthread_t thread;
    int waiting;
    volatile sig_atomic_t cancelled;
};

static int interrupt_signal = 0;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static __thread sigjmp_buf wait_jump;
static __thread volatile sig_atomic_t in_wait = 0;

static void on_interrupt(int signal) {
    (void)signal;
    if (in_wait) {
        in_wait = 0;
        siglongjmp(wait_jump, 1);
    }
}

/// Claims the highest real-time signal nobody handles, leaving the low ones
/// (which programs tend to use first) alone.
static void choose_signal(void) {
    for (int candidate = SIGRTMAX - 1; candidate >= SIGRTMIN + 4; candidate--) {
        struct sigaction current;
        if (sigaction(candidate, NULL, &current) != 0) {
            continue;
        }
        if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) {
            continue;
        }
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_interrupt;
        sigemptyset(&action.sa_mask);
        // No SA_RESTART: the point is to make flock() return.
        action.sa_flags = 0;
        if (sigaction(candidate, &action, NULL) == 0) {
            interrupt_signal = candidate;
            return;
        }
    }
}

static int signal_is_still_ours(void) {
    struct sigaction current;
    if (sigaction(interrupt_signal, NULL, &current) != 0) {
        return 0;
    }
    return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == on_interrupt;
}

int rvf_flock_wait_signal(void) { return interrupt_signal; }

rvf_wait_token *rvf_wait_token_create(void) {
    rvf_wait_token *token = calloc(1, sizeof *token);
    if (token != NULL) {
        pthread_mutex_init(&token->mutex, NULL);
    }
    return token;
}

void rvf_wait_token_destroy(rvf_wait_token *token) {
    if (token == NULL) {
        return;
    }
    pthread_mutex_destroy(&token->mutex);
    free(token);
}

void rvf_wait_token_cancel(rvf_wait_token *token) {
    pthread_mutex_lock(&token->mutex);
    token->cancelled = 1;
    // Under the mutex, the waiting thread cannot have left and ended: its
    // pthread_t is valid. A signal that lands before the thread enters the
    // blocking call is harmless: it checks `cancelled` after arming the jump.
    if (token->waiting && interrupt_signal != 0) {
        pthread_kill(token->thread, interrupt_signal);
    }
    pthread_mutex_unlock(&token->mutex);
}

int rvf_wait_token_is_cancelled(const rvf_wait_token *token) { return token->cancelled != 0; }

static unsigned long long monotonic_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

enum { ZONE_GRANTED, ZONE_INTERRUPTED, ZONE_STOP, ZONE_FAILED };

/// One blocking attempt, out of which the signal handler may jump. Kept in its
/// own function, with nothing but the flag checks and the system call inside
/// the jump's reach, so that the jump never skips code that holds resources.
static int __attribute__((noinline))
blocking_attempt(int descriptor, int operation, unsigned long long deadline, rvf_wait_token *token, int *saved_errno) {
    if (sigsetjmp(wait_jump, 1) != 0) {
        return ZONE_INTERRUPTED;
    }
    in_wait = 1;
    if (token->cancelled || (deadline != 0 && monotonic_now() >= deadline)) {
        in_wait = 0;
        return ZONE_STOP;
    }
    int result = flock(descriptor, operation);
    in_wait = 0;
    if (result == 0) {
        return ZONE_GRANTED;
    }
    *saved_errno = errno;
    return errno == EINTR ? ZONE_INTERRUPTED : ZONE_FAILED;
}

int rvf_flock_wait(int descriptor, int operation, unsigned long long timeout_ns, rvf_wait_token *token) {
    pthread_once(&choose_once, choose_signal);
    if (interrupt_signal == 0 || !signal_is_still_ours()) {
        return RVF_FLOCK_WAIT_UNAVAILABLE;
    }
    unsigned long long deadline = 0;
    if (timeout_ns != UINT64_MAX) {
        deadline = monotonic_now() + timeout_ns;
        if (deadline == 0) {
            deadline = 1;
        }
    }

    pthread_mutex_lock(&token->mutex);
    token->thread = pthread_self();
    token->waiting = 1;
    pthread_mutex_unlock(&token->mutex);

    sigset_t ours, previous;
    sigemptyset(&ours);
    sigaddset(&ours, interrupt_signal);
    pthread_sigmask(SIG_UNBLOCK, &ours, &previous);

    timer_t timer;
    int has_timer = 0;
    if (deadline != 0) {
        struct sigevent event;
        memset(&event, 0, sizeof event);
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = interrupt_signal;
        event.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_MONOTONIC, &event, &timer) == 0) {
            has_timer = 1;
            struct itimerspec spec;
            memset(&spec, 0, sizeof spec);
            spec.it_value.tv_sec = (time_t)(deadline / 1000000000ULL);
            spec.it_value.tv_nsec = (long)(deadline % 1000000000ULL);
            // Repeats, so that an expiry which found the thread between two
            // attempts (an EINTR from another signal) is followed by another.
            spec.it_interval.tv_nsec = 10 * 1000 * 1000;
            timer_settime(timer, TIMER_ABSTIME, &spec, NULL);
        }
    }

    int outcome;
    int saved_errno = 0;
    for (;;) {
        int zone = blocking_attempt(descriptor, operation, deadline, token, &saved_errno);
        if (zone == ZONE_GRANTED) {
            outcome = RVF_FLOCK_WAIT_GRANTED;
            break;
        }
        if (zone == ZONE_FAILED) {
            outcome = RVF_FLOCK_WAIT_FAILED;
            break;
        }
        // Interrupted, or told to stop: the lock may have been granted just
        // before the interruption; a non-blocking try answers for certain.
        if (flock(descriptor, operation | LOCK_NB) == 0) {
            outcome = RVF_FLOCK_WAIT_GRANTED;
            break;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            saved_errno = errno;
            outcome = RVF_FLOCK_WAIT_FAILED;
            break;
        }
        if (token->cancelled) {
            outcome = RVF_FLOCK_WAIT_CANCELLED;
            break;
        }
        if (deadline != 0 && monotonic_now() >= deadline) {
            outcome = RVF_FLOCK_WAIT_TIMED_OUT;
            break;
        }
        if (!has_timer && deadline != 0) {
            // No timer could be made: fall back to short non-blocking retries.
            struct timespec pause = {0, 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }

    if (has_timer) {
        timer_delete(timer);
    }
    pthread_mutex_lock(&token->mutex);
    token->waiting = 0;
    pthread_mutex_unlock(&token->mutex);
    // A signal still pending from the timer or a late cancel is delivered when
    // the mask is restored, or later: the handler ignores it outside a wait.
    if (sigismember(&previous, interrupt_signal) == 1) {
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
    }
    if (outcome == RVF_FLOCK_WAIT_FAILED) {
        errno = saved_errno;
    }
    return outcome;
}

#else

struct rvf_wait_token {
    volatile int cancelled;
};

rvf_wait_token *rvf_wait_token_create(void) { return calloc(1, sizeof(struct rvf_wait_token)); }
void rvf_wait_token_destroy(rvf_wait_token *token) { free(token); }
void rvf_wait_token_cancel(rvf_wait_token *token) { token->cancelled = 1; }
int rvf_wait_token_is_cancelled(const rvf_wait_token *token) { return token->cancelled != 0; }
int rvf_flock_wait_signal(void) { return 0; }
int rvf_flock_wait(int descriptor, int operation, unsigned long long timeout_ns, rvf_wait_token *token) {
    (void)descriptor;
    (void)operation;
    (void)timeout_ns;
    (void)token;
    return RVF_FLOCK_WAIT_UNAVAILABLE;
}

#endif

// Waiter markers: a shared OFD lock on byte 1 of the lock file, taken by each
// waiter before it queues for the file's flock(). Independent of flock() on
// local file systems; on NFS (where flock() is a whole-file POSIX lock) taking
// it fails, and nothing depends on it there.

#if defined(__linux__) && defined(F_OFD_SETLK)
static int marker_lock(int descriptor, int command, short type) {
    struct flock range;
    memset(&range, 0, sizeof range);
    range.l_type = type;
    range.l_whence = SEEK_SET;
    range.l_start = 1;
    range.l_len = 1;
    int result;
    do {
        result = fcntl(descriptor, command, &range);
    } while (result == -1 && errno == EINTR);
    if (result == -1) {
        return -1;
    }
    return command == F_OFD_GETLK ? (range.l_type != F_UNLCK) : 0;
}

int rvf_waiter_mark(int descriptor) { return marker_lock(descriptor, F_OFD_SETLK, F_RDLCK); }
int rvf_waiter_unmark(int descriptor) { return marker_lock(descriptor, F_OFD_SETLK, F_UNLCK); }
int rvf_has_waiters(int descriptor) { return marker_lock(descriptor, F_OFD_GETLK, F_WRLCK); }
#else
int rvf_waiter_mark(int descriptor) { (void)descriptor; errno = ENOSYS; return -1; }
int rvf_waiter_unmark(int descriptor) { (void)descriptor; errno = ENOSYS; return -1; }
int rvf_has_waiters(int descriptor) { (void)descriptor; return 0; }
#endif
