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
#include <sys/syscall.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

// Every wait in progress, so that the watchdog can reach their threads when the
// host program takes the wait's signal over.
struct rvf_wait_token {
    pthread_mutex_t mutex;
    // While `waiting`: the waiting thread, its timer, and the signal both use.
    pid_t thread;
    timer_t timer;
    int signal;
    int waiting;
    volatile sig_atomic_t cancelled;
    // Set by the watchdog: the wait's signal is no longer ours, wait another way.
    volatile sig_atomic_t signal_lost;
    struct rvf_wait_token *next_active;
};

// The signal new waits use; 0 until claimed, or when none is free. Guarded by `claim_mutex`.
static int interrupt_signal = 0;
static pthread_mutex_t claim_mutex = PTHREAD_MUTEX_INITIALIZER;
// Waits in progress, linked through `next_active`. Guarded by `claim_mutex`.
static rvf_wait_token *active_waits = NULL;

static __thread sigjmp_buf wait_jump;
static __thread volatile sig_atomic_t in_wait = 0;

static void on_interrupt(int signal) {
    (void)signal;
    if (in_wait) {
        in_wait = 0;
        siglongjmp(wait_jump, 1);
    }
}

static int is_ours(int signal) {
    struct sigaction current;
    if (signal == 0 || sigaction(signal, NULL, &current) != 0) {
        return 0;
    }
    return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == on_interrupt;
}

/// Claims the highest real-time signal nobody handles, leaving the low ones
/// (which programs tend to use first) alone. Call with `claim_mutex` held.
static int claim_signal(void) {
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
            return candidate;
        }
    }
    return 0;
}

/// The signal for a new wait: the one claimed before while it is still ours,
/// otherwise a new one (the host program took the old one over).
static int current_signal(void) {
    pthread_mutex_lock(&claim_mutex);
    if (!is_ours(interrupt_signal)) {
        interrupt_signal = claim_signal();
    }
    int signal = interrupt_signal;
    pthread_mutex_unlock(&claim_mutex);
    return signal;
}

int rvf_flock_wait_signal(void) {
    pthread_mutex_lock(&claim_mutex);
    int signal = interrupt_signal;
    pthread_mutex_unlock(&claim_mutex);
    return signal;
}

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

/// Fires the waiting thread's own timer now. Its signal was queued in advance
/// when the timer was made, so this cannot fail for want of signal queue space
/// (RLIMIT_SIGPENDING), as pthread_kill with a real-time signal can.
static void fire_timer(rvf_wait_token *token) {
    struct itimerspec now;
    memset(&now, 0, sizeof now);
    now.it_value.tv_nsec = 1;
    timer_settime(token->timer, 0, &now, NULL);
}

void rvf_wait_token_cancel(rvf_wait_token *token) {
    pthread_mutex_lock(&token->mutex);
    token->cancelled = 1;
    // Under the mutex, the wait cannot have ended and deleted its timer. A signal
    // that lands before the thread enters the blocking call is harmless: it
    // checks `cancelled` after arming the jump.
    if (token->waiting) {
        fire_timer(token);
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
    if (token->cancelled || token->signal_lost || (deadline != 0 && monotonic_now() >= deadline)) {
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

static void add_active(rvf_wait_token *token) {
    pthread_mutex_lock(&claim_mutex);
    token->next_active = active_waits;
    active_waits = token;
    pthread_mutex_unlock(&claim_mutex);
}

static void remove_active(rvf_wait_token *token) {
    pthread_mutex_lock(&claim_mutex);
    for (rvf_wait_token **link = &active_waits; *link != NULL; link = &(*link)->next_active) {
        if (*link == token) {
            *link = token->next_active;
            break;
        }
    }
    token->next_active = NULL;
    pthread_mutex_unlock(&claim_mutex);
}

int rvf_flock_wait(int descriptor, int operation, unsigned long long timeout_ns, rvf_wait_token *token) {
    int signal = current_signal();
    if (signal == 0) {
        return RVF_FLOCK_WAIT_UNAVAILABLE;
    }
    unsigned long long deadline = 0;
    if (timeout_ns != UINT64_MAX) {
        deadline = monotonic_now() + timeout_ns;
        if (deadline == 0) {
            deadline = 1;
        }
    }

    // The thread's own timer: the timeout, and the cancellation (which fires it
    // early). Without one (timer_create refused: no signal queue space left under
    // RLIMIT_SIGPENDING, or a seccomp profile), nothing could end the blocking
    // call, so the caller must wait another way.
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = signal;
    event.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
        return RVF_FLOCK_WAIT_UNAVAILABLE;
    }

    pthread_mutex_lock(&token->mutex);
    token->thread = event.sigev_notify_thread_id;
    token->timer = timer;
    token->signal = signal;
    token->signal_lost = 0;
    token->waiting = 1;
    pthread_mutex_unlock(&token->mutex);
    add_active(token);

    sigset_t ours, previous;
    sigemptyset(&ours);
    sigaddset(&ours, signal);
    pthread_sigmask(SIG_UNBLOCK, &ours, &previous);

    if (deadline != 0) {
        struct itimerspec spec;
        memset(&spec, 0, sizeof spec);
        spec.it_value.tv_sec = (time_t)(deadline / 1000000000ULL);
        spec.it_value.tv_nsec = (long)(deadline % 1000000000ULL);
        // Once: a signal that finds the thread between two attempts is ignored by
        // the handler, and the next attempt sees the deadline itself.
        timer_settime(timer, TIMER_ABSTIME, &spec, NULL);
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
        if (token->signal_lost || !is_ours(signal)) {
            // The host program installed its own handler on the signal: neither the
            // timer nor a cancellation could end the next blocking call.
            outcome = RVF_FLOCK_WAIT_UNAVAILABLE;
            break;
        }
    }

    remove_active(token);
    pthread_mutex_lock(&token->mutex);
    token->waiting = 0;
    timer_delete(timer);
    pthread_mutex_unlock(&token->mutex);
    // A signal still pending from a late cancel or the watchdog is delivered when
    // the mask is restored, or later: the handler ignores it outside a wait.
    if (sigismember(&previous, signal) == 1) {
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
    }
    if (outcome == RVF_FLOCK_WAIT_FAILED) {
        errno = saved_errno;
    }
    return outcome;
}

int rvf_flock_wait_watchdog(void) {
    pthread_mutex_lock(&claim_mutex);
    int rescued = 0;
    if (active_waits != NULL && !is_ours(interrupt_signal)) {
        // The host program took the signal over (with SA_RESTART a blocked flock()
        // now restarts after its handler and never returns). Claim another one for
        // new waits, and reach each thread still blocked with it, so that it
        // returns and waits another way.
        interrupt_signal = claim_signal();
        for (rvf_wait_token *token = active_waits; token != NULL; token = token->next_active) {
            pthread_mutex_lock(&token->mutex);
            if (token->waiting && token->signal != interrupt_signal) {
                token->signal_lost = 1;
                if (interrupt_signal != 0) {
                    // The wait's own timer has the old signal; the new one reaches the
                    // thread directly. It had queue space for its timer a moment ago.
                    syscall(SYS_tgkill, getpid(), token->thread, interrupt_signal);
                }
                rescued++;
            }
            pthread_mutex_unlock(&token->mutex);
        }
    }
    int any = active_waits != NULL;
    pthread_mutex_unlock(&claim_mutex);
    return rescued > 0 ? rescued : (any ? 0 : -1);
}
