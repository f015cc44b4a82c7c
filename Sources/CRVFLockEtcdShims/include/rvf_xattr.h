#ifndef RVF_XATTR_H
#define RVF_XATTR_H

#if !defined(__linux__)
#error "RVFLock runs on Linux only; see the Protocol article (\"Porting\") for what another system would need"
#endif

// Extended attributes for RVFLockEtcd's fencing helper: Swift's Glibc module
// does not import <sys/xattr.h>.

#include <sys/types.h>
#include <sys/xattr.h>

#endif
