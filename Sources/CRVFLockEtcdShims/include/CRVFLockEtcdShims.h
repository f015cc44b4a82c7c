// What rvf-lock-etcd needs of C: the concurrency runtime's global-executor hook,
// which Swift does not declare. (prefault.c, beside it, declares nothing: its
// constructor runs before main.)
#ifndef RVF_ETCD_SHIMS_H
#define RVF_ETCD_SHIMS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Makes `hook` the function that Swift's concurrency runtime calls, at every
/// enqueue of a task on the global executor, to take the task instead: the
/// runtime's `swift_task_enqueueGlobal_hook`, set atomically. False, and nothing
/// changed, when another hook is set already.
///
/// The hook is reached at link time: a program linked with `--static-swift-stdlib`
/// or `-static-executable` does not export it for `dlsym`, where swift-nio's own
/// installer looks for it.
bool rvf_install_enqueue_global_hook(const void *_Nonnull hook);

#ifdef __cplusplus
}
#endif

#endif
