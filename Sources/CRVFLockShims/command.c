#define _GNU_SOURCE
#include "rvf_command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

extern char **environ;

#if defined(__linux__)

/// What the parent hands the child, and where the child reports a failure. The
/// child shares the parent's memory (CLONE_VM) and the parent sleeps until the
/// child has executed the command or exited (CLONE_VFORK), so plain fields do.
struct child_arguments {
    const char *const *argv;
    char *const *envp;
    int inherited_descriptor;
    int parent_death_signal;
    pid_t expected_parent;
    int new_process_group;
    const int *default_signals;
    int default_signal_count;
    volatile int failed_step;
    volatile int failure_errno;
};

static int fail(struct child_arguments *arguments, int step) {
    arguments->failure_errno = errno;
    arguments->failed_step = step;
    _exit(127);
}

/// Runs in the child, on its own stack, with every signal blocked.
static int child_main(void *opaque) {
    struct child_arguments *arguments = opaque;

    // A handler of the parent's must never run here: it would act on the
    // parent's memory. Reset them before any signal can be unblocked.
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
    for (int index = 0; index < arguments->default_signal_count; index++) {
        sigaction(arguments->default_signals[index], &defaults, NULL);
    }

    if (prctl(PR_SET_PDEATHSIG, (unsigned long)arguments->parent_death_signal, 0UL, 0UL, 0UL) != 0) {
        fail(arguments, RVF_SPAWN_PARENT_DEATH_SIGNAL);
    }
    // The parent may have died before the request: then nothing would kill us with it.
    if (getppid() != arguments->expected_parent) {
        errno = ESRCH;
        fail(arguments, RVF_SPAWN_PARENT_GONE);
    }
    if (arguments->new_process_group && setpgid(0, 0) != 0) {
        fail(arguments, RVF_SPAWN_PROCESS_GROUP);
    }
    // Only in this child's descriptor table: the parent's copy stays close-on-exec.
    if (arguments->inherited_descriptor >= 0 && fcntl(arguments->inherited_descriptor, F_SETFD, 0) != 0) {
        fail(arguments, RVF_SPAWN_INHERIT);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

    execvpe(arguments->argv[0], (char *const *)arguments->argv, arguments->envp);
    fail(arguments, RVF_SPAWN_EXEC);
    return 127;
}

pid_t rvf_spawn_command(const char *const argv[], int inherited_descriptor, const char *environment_name,
                        int parent_death_signal, int new_process_group, const int *default_signals,
                        int default_signal_count, int *failed_step, int *failure_errno) {
    *failed_step = RVF_SPAWN_STARTED;
    *failure_errno = 0;

    // The child's environment: ours, with NAME=descriptor replacing any NAME already set.
    size_t name_length = strlen(environment_name);
    size_t count = 0;
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++) {
        count++;
    }
    char **envp = malloc((count + 2) * sizeof(char *));
    char *setting = malloc(name_length + 16);
    if (envp == NULL || setting == NULL) {
        free(envp);
        free(setting);
        *failed_step = RVF_SPAWN_CLONE;
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
    snprintf(setting, name_length + 16, "%s=%d", environment_name, inherited_descriptor);
    envp[kept++] = setting;
    envp[kept] = NULL;

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
    if (stack == MAP_FAILED) {
        *failed_step = RVF_SPAWN_CLONE;
        *failure_errno = errno;
        free(envp);
        free(setting);
        return -1;
    }

    struct child_arguments arguments = {
        .argv = argv,
        .envp = envp,
        .inherited_descriptor = inherited_descriptor,
        .parent_death_signal = parent_death_signal,
        .expected_parent = getpid(),
        .new_process_group = new_process_group,
        .default_signals = default_signals,
        .default_signal_count = default_signal_count,
        .failed_step = RVF_SPAWN_STARTED,
        .failure_errno = 0,
    };

    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t child = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &arguments);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);

    munmap(stack, stack_size);
    free(envp);
    free(setting);

    if (child == -1) {
        *failed_step = RVF_SPAWN_CLONE;
        *failure_errno = clone_errno;
        return -1;
    }
    if (arguments.failed_step != RVF_SPAWN_STARTED) {
        *failed_step = arguments.failed_step;
        *failure_errno = arguments.failure_errno;
        int status;
        while (waitpid(child, &status, 0) == -1 && errno == EINTR) {
        }
        return -1;
    }
    return child;
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

#else /* not Linux: no parent-death signal, so no command may run unprotected */

pid_t rvf_spawn_command(const char *const argv[], int inherited_descriptor, const char *environment_name,
                        int parent_death_signal, int new_process_group, const int *default_signals,
                        int default_signal_count, int *failed_step, int *failure_errno) {
    (void)argv;
    (void)inherited_descriptor;
    (void)environment_name;
    (void)parent_death_signal;
    (void)new_process_group;
    (void)default_signals;
    (void)default_signal_count;
    *failed_step = RVF_SPAWN_PARENT_DEATH_SIGNAL;
    *failure_errno = ENOSYS;
    return -1;
}

int rvf_set_child_subreaper(void) {
    errno = ENOSYS;
    return -1;
}

int rvf_pidfd_open(pid_t pid) {
    (void)pid;
    errno = ENOSYS;
    return -1;
}

int rvf_pidfd_send_signal(int pidfd, int signal) {
    (void)pidfd;
    (void)signal;
    errno = ENOSYS;
    return -1;
}

#endif

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
