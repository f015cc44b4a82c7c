#define _GNU_SOURCE
#include "rvf_command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

extern char **environ;

/// What the keeper needs to start COMMAND. Everything is allocated by rvf-lock
/// before the fork: the keeper is a fork of a multi-threaded process, where
/// another thread may have held the allocator's lock at the moment of the fork,
/// so it may call only async-signal-safe functions.
struct command_plan {
    const char *const *argv;
    char *const *envp;
    int inherited_descriptor;
    /// 0: COMMAND leads a process group of its own; else the group it joins.
    pid_t process_group;
    const int *default_signals;
    int default_signal_count;
    /// The stack COMMAND's child runs on until it executes COMMAND.
    void *stack;
    size_t stack_size;
    /// Where COMMAND's child reports a failure: it shares the keeper's memory
    /// (CLONE_VM), and the keeper sleeps until it has executed COMMAND or exited
    /// (CLONE_VFORK), so plain fields do.
    volatile int failed_step;
    volatile int failure_errno;
};

/// Room for the go message's environment entries (see `rvf_keeper_go`).
enum { GO_ENVIRONMENT_BYTES = 4096, GO_ENVIRONMENT_ENTRIES = 8 };

/// The go message: COMMAND's process group, the number the lock's descriptor has
/// in rvf-lock, then NUL-terminated environment entries; the descriptor itself
/// comes with it (SCM_RIGHTS).
struct go_message {
    int32_t command_group;
    int32_t descriptor_number;
    char environment[GO_ENVIRONMENT_BYTES];
};

/// Everything the keeper holds besides the plan.
struct keeper_plan {
    struct command_plan command;
    /// The lock's descriptor, once the go message brought it: the keeper keeps its
    /// own reference to the open file description, and so the kernel lock, until it ends.
    int lock_descriptor;
    /// The supervision's event channel (rvf-lock's end for writing): where the keeper's reports go.
    int report_descriptor;
    /// The go channel: the keeper reads its end; rvf-lock keeps the other.
    int go_read_descriptor;
    int go_write_descriptor;
    /// COMMAND's environment, completed on go: rvf-lock's at the fork without the
    /// lock's variable, with room for the go message's entries and the lock's variable.
    char **envp;
    size_t envp_count;
    /// "NAME=", and room for the descriptor's number.
    char *setting;
    size_t setting_prefix;
    /// Where the go message lands (allocated before the fork).
    struct go_message *go;
};

static int fail(struct command_plan *plan, int step) {
    plan->failure_errno = errno;
    plan->failed_step = step;
    _exit(127);
}

/// Runs in COMMAND's child, on its own stack, with every signal blocked.
static int command_main(void *opaque) {
    struct command_plan *plan = opaque;

    // A handler of rvf-lock's must never run here: it would act on the keeper's
    // memory. Reset them before any signal can be unblocked.
    struct sigaction action;
    struct sigaction defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.sa_handler = SIG_DFL;
    sigemptyset(&defaults.sa_mask);
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) {
            continue;
        }
        if (sigaction(signal, NULL, &action) != 0) {
            continue; // the C library's own signals
        }
        if (action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN) {
            sigaction(signal, &defaults, NULL);
        }
    }
    for (int index = 0; index < plan->default_signal_count; index++) {
        sigaction(plan->default_signals[index], &defaults, NULL);
    }

    // setpgid(0, 0) makes a group of its own; setpgid(0, G) joins G, which must
    // be in this session (rvf-lock's group, for a terminal's job).
    if (setpgid(0, plan->process_group) != 0) {
        fail(plan, RVF_SPAWN_PROCESS_GROUP);
    }
    // Only in this child's descriptor table: the keeper's copy stays close-on-exec.
    if (plan->inherited_descriptor >= 0 && fcntl(plan->inherited_descriptor, F_SETFD, 0) != 0) {
        fail(plan, RVF_SPAWN_INHERIT);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

    execvpe(plan->argv[0], (char *const *)plan->argv, plan->envp);
    fail(plan, RVF_SPAWN_EXEC);
    return 127;
}

/// Starts COMMAND as the keeper's child with clone(CLONE_VM | CLONE_VFORK), as
/// posix_spawn does: no copy of the page tables, failures through shared memory.
/// Its pid, or -1 with the plan's failure set (and the failed child reaped).
static pid_t start_command(struct command_plan *plan) {
    plan->failed_step = RVF_SPAWN_STARTED;
    plan->failure_errno = 0;
    pid_t child = clone(command_main, (char *)plan->stack + plan->stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, plan);
    if (child == -1) {
        plan->failure_errno = errno;
        plan->failed_step = RVF_SPAWN_CLONE;
        return -1;
    }
    if (plan->failed_step != RVF_SPAWN_STARTED) {
        int status;
        while (waitpid(child, &status, 0) == -1 && errno == EINTR) {
        }
        return -1;
    }
    return child;
}

/// One message of the event channel: one record, and room for one descriptor
/// passed with it (SCM_RIGHTS). The sender and the receiver lay it out alike.
struct event_message {
    struct msghdr message;
    struct iovec part;
    union {
        char bytes[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
};

/// Lays out `event` around `length` bytes at `bytes`, with room for a descriptor
/// when `with_descriptor`. Only memset and stores: safe in the keeper's child after fork.
static void event_message_init(struct event_message *event, void *bytes, size_t length, int with_descriptor) {
    memset(event, 0, sizeof *event);
    event->part.iov_base = bytes;
    event->part.iov_len = length;
    event->message.msg_iov = &event->part;
    event->message.msg_iovlen = 1;
    if (with_descriptor) {
        event->message.msg_control = event->control.bytes;
        event->message.msg_controllen = sizeof event->control.bytes;
    }
}

/// Sends `length` bytes as one message, with `passed` (a descriptor, or -1)
/// attached (SCM_RIGHTS), never raising SIGPIPE. sendmsg's result.
static ssize_t send_passing(int socket, void *bytes, size_t length, int passed) {
    struct event_message event;
    event_message_init(&event, bytes, length, passed >= 0);
    if (passed >= 0) {
        struct cmsghdr *header = CMSG_FIRSTHDR(&event.message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &passed, sizeof(int));
    }
    ssize_t sent;
    do {
        sent = sendmsg(socket, &event.message, MSG_NOSIGNAL);
    } while (sent == -1 && errno == EINTR);
    return sent;
}

/// Receives one message of at most `length` bytes, and in `*passed` a descriptor
/// that came with it (close-on-exec), or -1; `*truncated` when the message did not
/// fit. recvmsg's result.
static ssize_t receive_passing(int socket, void *bytes, size_t length, int flags, int *passed, int *truncated) {
    *passed = -1;
    *truncated = 0;
    struct event_message event;
    event_message_init(&event, bytes, length, 1);
#if defined(MSG_CMSG_CLOEXEC)
    flags |= MSG_CMSG_CLOEXEC;
#endif
    ssize_t received;
    do {
        received = recvmsg(socket, &event.message, flags);
    } while (received == -1 && errno == EINTR);
    if (received > 0) {
        struct msghdr *message = &event.message;
        for (struct cmsghdr *header = CMSG_FIRSTHDR(message); header != NULL; header = CMSG_NXTHDR(message, header)) {
            if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && header->cmsg_len >= CMSG_LEN(sizeof(int))) {
                memcpy(passed, CMSG_DATA(header), sizeof(int));
            }
        }
        *truncated = (message->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    }
    return received;
}

/// One report on the event channel, one record like the signal handlers', with
/// `passed` (a descriptor, or -1) attached. Lost if rvf-lock has died (EPIPE),
/// which is fine: nobody is left to hear it.
static void report_passing(int descriptor, int kind, int code, int value, int passed) {
    struct rvf_signal_record record = {kind, code, value, 0};
    send_passing(descriptor, &record, sizeof record, passed);
}

static void report(int descriptor, int kind, int code, int value) {
    report_passing(descriptor, kind, code, value, -1);
}

/// fork(2) without atfork handlers where glibc has _Fork (2.34): the child runs
/// none of the runtime's (it touches nothing they prepare), and the fork is
/// async-signal-safe, so a child of a child may fork again.
static pid_t fork_bare(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return _Fork();
#else
    return fork();
#endif
}

/// Waits for the go message; the lock's descriptor it brought (close-on-exec), or
/// -1 at end of file (rvf-lock closed its end, or died) or for a message without one.
static int receive_go(struct keeper_plan *plan) {
    int passed;
    int truncated;
    ssize_t count = receive_passing(plan->go_read_descriptor, plan->go, sizeof *plan->go, 0, &passed, &truncated);
    size_t header_size = offsetof(struct go_message, environment);
    if (passed >= 0 && (count < (ssize_t)header_size || truncated)) {
        close(passed);
        passed = -1;
    }
    if (passed >= 0) {
        // Terminated whatever was sent: the entries are read as strings.
        size_t length = (size_t)count - header_size;
        if (length == sizeof plan->go->environment) {
            length--;
        }
        plan->go->environment[length] = '\0';
    }
    return passed;
}

/// Length of an environment entry's name, up to its '='.
static size_t entry_name_length(const char *entry) {
    size_t length = 0;
    while (entry[length] != '\0' && entry[length] != '=') {
        length++;
    }
    return length;
}

/// Completes COMMAND's environment with the go message's entries (each replacing
/// one of the same name) and the lock's descriptor number. Only loads, stores and
/// comparisons: safe in a fork of a multi-threaded process.
static void complete_environment(struct keeper_plan *plan, int lock_descriptor) {
    char **envp = plan->envp;
    size_t count = plan->envp_count;
    const char *entry = plan->go->environment;
    const char *end = plan->go->environment + sizeof plan->go->environment;
    for (int added = 0; added < GO_ENVIRONMENT_ENTRIES && entry < end && *entry != '\0'; added++) {
        size_t name = entry_name_length(entry);
        size_t kept = 0;
        for (size_t index = 0; index < count; index++) {
            if (!(entry_name_length(envp[index]) == name && memcmp(envp[index], entry, name) == 0)) {
                envp[kept++] = envp[index];
            }
        }
        count = kept;
        envp[count++] = (char *)entry;
        entry += strlen(entry) + 1;
    }
    char digits[16];
    size_t length = 0;
    unsigned int value = (unsigned int)lock_descriptor;
    do {
        digits[length++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    char *number = plan->setting + plan->setting_prefix;
    for (size_t index = 0; index < length; index++) {
        number[index] = digits[length - 1 - index];
    }
    number[length] = '\0';
    envp[count++] = plan->setting;
    envp[count] = NULL;
}

/// Closes descriptors from `first` to `last` (inclusive).
static void close_range_of(unsigned int first, unsigned int last) {
    if (first > last) {
        return;
    }
#if defined(SYS_close_range)
    if (syscall(SYS_close_range, first, last, 0) == 0) {
        return;
    }
#endif
    // Before Linux 5.9: one close per number, below the descriptor limit.
    unsigned long limit = 65536;
    struct rlimit current;
    if (getrlimit(RLIMIT_NOFILE, &current) == 0 && current.rlim_cur != RLIM_INFINITY) {
        limit = (unsigned long)current.rlim_cur;
    }
    for (unsigned long descriptor = first; descriptor <= last && descriptor < limit; descriptor++) {
        close((int)descriptor);
    }
}

/// Closes every descriptor but the two given (distinct, non-negative).
static void close_all_but(int a, int b) {
    unsigned int low = (unsigned int)(a < b ? a : b);
    unsigned int high = (unsigned int)(a < b ? b : a);
    if (low > 0) {
        close_range_of(0, low - 1);
    }
    close_range_of(low + 1, high - 1);
    close_range_of(high + 1, ~0U);
}

/// Moves a pair of close-on-exec descriptors of rvf-lock's own to numbers of 10
/// and above, as shells keep theirs: the channel and the go channel are made
/// before the lock's descriptor when rvf-lock is to wait, and COMMAND gets that one
/// under rvf-lock's number, which stays as low as without them (one digit, for
/// dash's `exec N>&-`). Not higher: beyond the 64 descriptors a process starts
/// with, the kernel grows the table, and grows it shared with rvf-lock's threads
/// only after an RCU grace period (`exec` took 15.9 ms instead of 2.2 ms with the
/// channels at 100, started with no descriptor above 2).
static void move_out_of_the_way(int descriptors[2]) {
    for (int index = 0; index < 2; index++) {
        int moved = fcntl(descriptors[index], F_DUPFD_CLOEXEC, 10);
        if (moved >= 0) {
            close(descriptors[index]);
            descriptors[index] = moved;
        }
    }
}

/// The keeper, from the fork on; never returns. Every signal is blocked (as it
/// was in rvf-lock for the fork) and stays blocked: a signal meant for rvf-lock's
/// process group, or for rvf-lock's children, must not end the process whose
/// pid the record names. Only SIGKILL can.
__attribute__((noreturn)) static void keeper_main(struct keeper_plan *plan) {
    close(plan->go_write_descriptor);
    // Out of rvf-lock's process group: a SIGKILL or SIGSTOP for rvf-lock's whole
    // job (kill -9 %1) must not reach it. Not fatal if refused: it only narrows that.
    setpgid(0, 0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) {
        report(plan->report_descriptor, RVF_KEEPER_FAILED, RVF_SPAWN_SUBREAPER, errno);
        _exit(1);
    }
    // rvf-lock takes the lock, writes the keeper's pid into the lock record, then
    // says go, sending the lock's descriptor. Without it (rvf-lock died, gave up,
    // or did not get the lock) COMMAND must not start: no lock, or a record naming
    // a process that does not live as long as COMMAND.
    int lock_descriptor = receive_go(plan);
    if (lock_descriptor < 0) {
        _exit(1);
    }
    close(plan->go_read_descriptor);
    // The number rvf-lock has, which COMMAND finds in its environment: a shell's
    // `exec N>&-` (dash's) takes one digit, as rvf-lock's own descriptor has had.
    int wanted = plan->go->descriptor_number;
    if (wanted >= 0 && wanted != lock_descriptor) {
        if (dup3(lock_descriptor, wanted, O_CLOEXEC) == -1) {
            report(plan->report_descriptor, RVF_KEEPER_FAILED, RVF_SPAWN_INHERIT, errno);
            _exit(1);
        }
        close(lock_descriptor);
        lock_descriptor = wanted;
    }
    plan->lock_descriptor = lock_descriptor;
    plan->command.inherited_descriptor = lock_descriptor;
    plan->command.process_group = plan->go->command_group;
    complete_environment(plan, lock_descriptor);
    plan->command.envp = plan->envp;
    pid_t command = start_command(&plan->command);
    if (command < 0) {
        report(plan->report_descriptor, RVF_KEEPER_FAILED, plan->command.failed_step, plan->command.failure_errno);
        _exit(1);
    }
    // A pidfd names COMMAND and never a process that gets its pid after the keeper
    // reaps it: opened before any reaping, and handed to rvf-lock with the report.
    // None before Linux 5.3: then rvf-lock signals COMMAND by its pid.
    int pidfd = -1;
#if defined(SYS_pidfd_open)
    pidfd = (int)syscall(SYS_pidfd_open, command, 0);
#endif
    report_passing(plan->report_descriptor, RVF_KEEPER_STARTED, 0, command, pidfd);
    // COMMAND has its copies; the keeper needs nothing but the lock's descriptor
    // and its report channel (standard descriptors included: a `$(...)` waiting
    // for the end of output must not wait for the keeper).
    close_all_but(plan->lock_descriptor, plan->report_descriptor);
    for (;;) {
        int status = 0;
        pid_t reaped = waitpid(-1, &status, __WALL);
        if (reaped == command) {
            report(plan->report_descriptor, RVF_KEEPER_EXITED, status, command);
        } else if (reaped == -1 && errno != EINTR) {
            // ECHILD: no child is left, and as a subreaper the keeper inherits every
            // orphan below it, so no descendant is left either. Its copy of the lock's
            // descriptor goes first, so that rvf-lock's release frees the kernel lock
            // at once: rvf-lock releases on this report, not on the keeper's exit,
            // whose tear-down of a copy of rvf-lock's memory takes a while.
            close(plan->lock_descriptor);
            report(plan->report_descriptor, RVF_KEEPER_DONE, 0, 0);
            _exit(0);
        }
    }
}

pid_t rvf_start_keeper(const char *const argv[], const char *environment_name, const int *default_signals,
                       int default_signal_count, int report_descriptor, int *go_descriptor, int *failure_errno) {
    *go_descriptor = -1;
    *failure_errno = 0;

    // COMMAND's environment: ours without NAME, with room for the go message's
    // entries and NAME=descriptor, which the keeper adds.
    size_t name_length = strlen(environment_name);
    size_t count = 0;
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++) {
        count++;
    }
    char **envp = malloc((count + GO_ENVIRONMENT_ENTRIES + 2) * sizeof(char *));
    char *setting = malloc(name_length + 16);
    struct go_message *go_message = malloc(sizeof *go_message);
    if (envp == NULL || setting == NULL || go_message == NULL) {
        free(envp);
        free(setting);
        free(go_message);
        *failure_errno = ENOMEM;
        return -1;
    }
    size_t kept = 0;
    for (size_t index = 0; index < count; index++) {
        const char *entry = environ[index];
        if (strncmp(entry, environment_name, name_length) == 0 && entry[name_length] == '=') {
            continue;
        }
        envp[kept++] = environ[index];
    }
    envp[kept] = NULL;
    memcpy(setting, environment_name, name_length);
    setting[name_length] = '=';
    setting[name_length + 1] = '\0';

    // The stack execvpe needs: a PATH entry plus the name, and for a script
    // without #! a copy of argv with /bin/sh in front (as posix_spawn sizes it).
    size_t argc = 0;
    while (argv[argc] != NULL) {
        argc++;
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t stack_size = 64 * 1024 + (argc + 3) * sizeof(char *);
    stack_size = (stack_size + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    // A socket, not a pipe: the go message brings the lock's descriptor.
    int go[2] = {-1, -1};
    int paired = stack == MAP_FAILED ? -1 : socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, go);
    if (paired == 0) {
        move_out_of_the_way(go);
    }
    if (stack == MAP_FAILED || paired != 0) {
        *failure_errno = errno;
        if (stack != MAP_FAILED) {
            munmap(stack, stack_size);
        }
        free(envp);
        free(setting);
        free(go_message);
        return -1;
    }

    struct keeper_plan plan = {
        .command = {
            .argv = argv,
            .envp = envp,
            .inherited_descriptor = -1,
            .process_group = 0,
            .default_signals = default_signals,
            .default_signal_count = default_signal_count,
            .stack = stack,
            .stack_size = stack_size,
            .failed_step = RVF_SPAWN_STARTED,
            .failure_errno = 0,
        },
        .lock_descriptor = -1,
        .report_descriptor = report_descriptor,
        .go_read_descriptor = go[0],
        .go_write_descriptor = go[1],
        .envp = envp,
        .envp_count = kept,
        .setting = setting,
        .setting_prefix = name_length + 1,
        .go = go_message,
    };

    // Blocked across the fork, so that no handler of rvf-lock's runs in the keeper.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t keeper = fork_bare();
    if (keeper == 0) {
        keeper_main(&plan);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);

    close(go[0]);
    munmap(stack, stack_size);
    free(envp);
    free(setting);
    free(go_message);
    if (keeper == -1) {
        close(go[1]);
        *failure_errno = fork_errno;
        return -1;
    }
    *go_descriptor = go[1];
    return keeper;
}

int rvf_keeper_go(int go_descriptor, int lock_descriptor, pid_t command_group, const char *environment,
                  size_t environment_length) {
    struct go_message message;
    if (environment_length > sizeof message.environment) {
        errno = E2BIG;
        return -1;
    }
    message.command_group = command_group;
    message.descriptor_number = lock_descriptor;
    if (environment_length > 0) {
        memcpy(message.environment, environment, environment_length);
    }
    size_t length = offsetof(struct go_message, environment) + environment_length;
    ssize_t sent = send_passing(go_descriptor, &message, length, lock_descriptor);
    return sent == -1 ? -1 : 0;
}

int rvf_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}

int rvf_pidfd_open(pid_t pid) {
#if defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int rvf_pidfd_send_signal(int pidfd, int signal) {
#if defined(SYS_pidfd_send_signal)
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
#else
    (void)pidfd;
    (void)signal;
    errno = ENOSYS;
    return -1;
#endif
}

int rvf_is_terminal_job(void) {
    int descriptor = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (descriptor == -1) {
        return 0;
    }
    pid_t foreground = tcgetpgrp(descriptor);
    close(descriptor);
    pid_t group = getpgrp();
    return foreground != -1 && (foreground == group || group == getpid());
}

/// Written once, before the first relay handler is installed; read by the handlers.
static volatile int relay_write_descriptor = -1;

static void relay_handler(int signal, siginfo_t *info, void *context) {
    (void)context;
    int saved_errno = errno;
    struct rvf_signal_record record = {signal, 0, 0, 0};
    if (info != NULL) {
        record.code = info->si_code;
        if (info->si_code <= 0) {
            record.sender = info->si_pid;
        }
    }
    ssize_t written = write(relay_write_descriptor, &record, sizeof record);
    (void)written;
    errno = saved_errno;
}

int rvf_install_relay_handler(int signal, int write_descriptor) {
    relay_write_descriptor = write_descriptor;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = relay_handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    return sigaction(signal, &action, NULL);
}

int rvf_signal_is_ignored(int signal) {
    struct sigaction current;
    if (sigaction(signal, NULL, &current) != 0) {
        return 0;
    }
    return current.sa_handler == SIG_IGN;
}

int rvf_set_signal_ignored(int signal, int ignored) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignored ? SIG_IGN : SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signal, &action, NULL);
}

int rvf_event_channel(int descriptors[2]) {
    int type = SOCK_SEQPACKET;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    type |= SOCK_CLOEXEC | SOCK_NONBLOCK;
    if (socketpair(AF_UNIX, type, 0, descriptors) == -1) {
        return -1;
    }
#else
    if (socketpair(AF_UNIX, type, 0, descriptors) == -1) {
        return -1;
    }
    for (int index = 0; index < 2; index++) {
        fcntl(descriptors[index], F_SETFD, FD_CLOEXEC);
        fcntl(descriptors[index], F_SETFL, fcntl(descriptors[index], F_GETFL) | O_NONBLOCK);
    }
#endif
    move_out_of_the_way(descriptors);
    return 0;
}

ssize_t rvf_receive_event(int descriptor, struct rvf_signal_record *record, int *passed_descriptor) {
    int truncated;
    return receive_passing(descriptor, record, sizeof *record, MSG_DONTWAIT, passed_descriptor, &truncated);
}

int rvf_spawn_detached(const char *path, char *const argv[], char *const envp[], int link, int link_target) {
    int failure[2];
    if (pipe2(failure, O_CLOEXEC) != 0) {
        return errno;
    }
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t middle = fork_bare();
    if (middle == 0) {
        close(failure[0]);
        setsid();
        pid_t started = fork_bare();
        if (started == 0) {
            int error = 0;
            if (link == link_target) {
                // dup2 onto itself would leave close-on-exec set.
                int flags = fcntl(link, F_GETFD);
                if (flags == -1 || fcntl(link, F_SETFD, flags & ~FD_CLOEXEC) == -1) {
                    error = errno;
                }
            } else if (dup2(link, link_target) == -1) {
                error = errno;
            }
            if (error == 0) {
                sigprocmask(SIG_SETMASK, &previous, NULL);
                execve(path, argv, envp);
                error = errno;
            }
            while (write(failure[1], &error, sizeof error) == -1 && errno == EINTR) {
            }
            _exit(127);
        }
        if (started < 0) {
            int error = errno;
            while (write(failure[1], &error, sizeof error) == -1 && errno == EINTR) {
            }
        }
        _exit(0);
    }
    int fork_error = middle < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(failure[1]);
    if (middle > 0) {
        int status;
        while (waitpid(middle, &status, 0) == -1 && errno == EINTR) {
        }
    }
    int error = fork_error;
    if (error == 0) {
        // Nothing before the end of the pipe (every copy of its write end closed
        // by the execve or an exit): the program started.
        ssize_t count;
        do {
            count = read(failure[0], &error, sizeof error);
        } while (count == -1 && errno == EINTR);
        if (count != (ssize_t)sizeof error) {
            error = 0;
        }
    }
    close(failure[0]);
    return error;
}
