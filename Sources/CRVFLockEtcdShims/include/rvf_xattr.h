#ifndef RVF_XATTR_H
#define RVF_XATTR_H

// Extended attributes for RVFLockEtcd's fencing helper: Swift's Glibc module
// does not import <sys/xattr.h>.

#include <sys/types.h>
#include <sys/xattr.h>

#endif
