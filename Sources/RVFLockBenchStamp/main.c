// The command run under `rvf-lock exec` and `flock(1)` by the exec-to-exec
// handoff benchmark:
//
//   rvflock-bench-stamp LOG ID HOLD_US
//
// Appends "+ID T" to LOG as its first act, sleeps HOLD_US microseconds,
// appends "-ID T" as its last, where T is CLOCK_MONOTONIC in nanoseconds (one
// clock for every process on the host). The gap from one command's "-" line to
// the next command's "+" line is the handoff between the two wrappers.
//
// It is C, not Swift, so that its own start-up (dynamic loading of the Swift
// runtime and Foundation: milliseconds) does not sit inside every handoff it
// measures: what remains (exec of a small C program, well under a millisecond)
// is the same for both wrappers.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

// One write per line: with O_APPEND each line lands whole and in order.
static int append(int log, char sign, const char *id, unsigned long long at) {
    char line[96];
    int length = snprintf(line, sizeof line, "%c%s %llu\n", sign, id, at);
    return write(log, line, (size_t)length) == length ? 0 : -1;
}

int main(int argc, char **argv) {
    unsigned long long started = monotonic_ns();
    if (argc != 4) {
        fprintf(stderr, "usage: rvflock-bench-stamp LOG ID HOLD_US\n");
        return 64;
    }
    int log = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log < 0 || append(log, '+', argv[2], started) != 0) {
        perror(argv[1]);
        return 73;
    }
    unsigned long long hold = strtoull(argv[3], NULL, 10) * 1000ULL;
    struct timespec until = {.tv_sec = (time_t)((started + hold) / 1000000000ULL),
                             .tv_nsec = (long)((started + hold) % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
    if (append(log, '-', argv[2], monotonic_ns()) != 0) {
        perror(argv[1]);
        return 73;
    }
    close(log);
    return 0;
}
