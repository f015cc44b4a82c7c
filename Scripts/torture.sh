#!/usr/bin/env bash
# Builds rvflock-torture and rvf-lock (release, into the same folder: the exec
# workers run that rvf-lock) and runs the short CI profile: 8 workers for
# 60 seconds with every fault. Extra arguments go to the harness and override the
# profile, e.g. the long profile:
#   Scripts/torture.sh --workers 32 --seconds 1800 --json torture.json
# The alias reference holders need rustc and the reference's seed/locking.rs in
# ../shared (or $RVFLOCK_REFERENCE_DIR); without them they are skipped, with the reason.
# Exits non-zero when the harness finds a violation (or the build fails).
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --scratch-path .build-torture --product rvflock-torture
swift build -c release --scratch-path .build-torture --product rvf-lock
binary="$(swift build -c release --scratch-path .build-torture --show-bin-path)/rvflock-torture"
exec "$binary" --workers 8 --seconds 60 --faults all "$@"
