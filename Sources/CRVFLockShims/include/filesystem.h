#ifndef CRVFLOCK_FILESYSTEM_H
#define CRVFLOCK_FILESYSTEM_H

// What a file system offers the lock: its kind by path.

#ifdef __cplusplus
extern "C" {
#endif

/// statfs(2)'s f_type for the file system holding `path`; 0 on success, -1 and
/// errno on failure (and where the platform has no f_type).
int rvf_statfs_type(const char *path, unsigned long long *type);


#ifdef __cplusplus
}
#endif

#endif
