#ifndef CRVFLOCK_FILESYSTEM_H
#define CRVFLOCK_FILESYSTEM_H

// What a file system offers the lock: its kind by path, and what `rvf-lock
// selftest` measures that Glibc does not import into Swift (statx).

#ifdef __cplusplus
extern "C" {
#endif

/// statfs(2)'s f_type for the file system holding `path`; 0 on success, -1 and
/// errno on failure (and where the platform has no f_type).
int rvf_statfs_type(const char *path, unsigned long long *type);

/// Whether the file system reports the birth time of the file open at
/// `descriptor` (statx with STATX_BTIME): 1 yes, 0 no, -1 and errno when statx
/// itself fails (ENOSYS on kernels before 4.11 and where the platform has none).
int rvf_reports_birth_time(int descriptor);

#ifdef __cplusplus
}
#endif

#endif
