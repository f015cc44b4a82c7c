// What `rvf-lock exec` needs of C and nothing else does (the library never
// starts processes): the keeper's spawn, the signal relay's handlers and the
// channel that carries their records, pidfds. A module apart from the
// library's shims, so that the library builds none of it.
#include "rvf_command.h"
