#include "CRVFLockEtcdShims.h"

// Defined by the Swift concurrency runtime (libswift_Concurrency), which every
// Swift program links; declared in its private headers only.
extern const void *swift_task_enqueueGlobal_hook;

bool rvf_install_enqueue_global_hook(const void *hook) {
    const void *none = 0;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &none, hook, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}
