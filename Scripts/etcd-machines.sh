#!/usr/bin/env bash
# The long form of the test of writers on separate "machines" (network and UTS
# namespaces, each looping `rvf-lock exec --etcd` on one data file against a
# 3-member etcd cluster in a namespace of its own): SECONDS of it (default 300)
# instead of swift test's 6, with the same verdict (no two holders overlap, the
# fencing tokens only grow, every machine held the lock). Needs root, iproute2,
# util-linux's unshare and etcd.
#   Scripts/etcd-machines.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
swift build --build-tests >&2
# The output is shown through descriptor 2 itself: `tee /dev/stderr` would open
# that path anew, truncating a log file that standard error is (CI's).
RVFLOCK_ETCD_MACHINES_SECONDS="$seconds" swift test --skip-build --filter writersOnSeparateMachinesNeverOverlap 2>&1 \
  | tee >(cat >&2) | grep "MachinesTests: .* with 0 overlaps" >/dev/null
