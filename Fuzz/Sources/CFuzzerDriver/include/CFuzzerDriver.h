#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's documented entry point for programs that have their own main().
// SwiftPM renames an executable's main (so that tests can import executables),
// which hides libFuzzer's main(); the fuzzer's renamed main calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
