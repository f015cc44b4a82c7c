#!/usr/bin/env bash
# Builds rvflock-torture and rvf-lock (release, statically linked as README.md
# installs rvf-lock, into the same folder: the exec workers run that rvf-lock)
# and runs the short CI profile: 8 workers for 60 seconds with every fault.
# Extra arguments go to the harness and override the profile, e.g. the long profile:
#   Scripts/torture.sh --workers 32 --seconds 1800 --json torture.json
# The alias reference holders need rustc and the reference's seed/locking.rs in
# ../shared (or $RVFLOCK_REFERENCE_DIR); without them they are skipped, with the reason.
# The etcd profile, `Scripts/torture.sh --etcd-profile [ARGS...]` (CI: 8 workers, 20 s):
# a 3-member etcd cluster of its own on 127.0.0.1 (Scripts/etcd-cluster.sh), one
# member SIGKILLed and restarted every 6 s, and 3 of every 8 workers holding through
# `rvf-lock exec --etcd` (the others take the lock file only, and must still be
# excluded). It uses the debug rvf-lock-etcd of `swift build` (on PATH), so that
# CI builds no second, release copy of the networking stack. Needs etcd.
# Exits non-zero when the harness finds a violation (or the build fails).
set -euo pipefail
cd "$(dirname "$0")/.."

etcd_profile=false
if [ "${1:-}" = "--etcd-profile" ]; then
  etcd_profile=true
  shift
fi

# The flags of README.md's "Install rvf-lock" build, into the same folder: after
# that build (CI's install step) only the harness itself is compiled, and the
# exec workers run the rvf-lock users install. The harness keeps its symbols
# (--strip-all is the link's alone), for a readable backtrace if it crashes.
release=(-c release -Xswiftc -static-executable
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
  -Xswiftc -use-ld=lld -Xswiftc -Xfrontend -Xswiftc -function-sections)
swift build "${release[@]}" --product rvflock-torture
swift build "${release[@]}" -Xlinker --strip-all --product rvf-lock \
  -Xlinker --symbol-ordering-file=Scripts/rvf-lock.order -Xlinker --no-warn-symbol-ordering
binary="$(swift build "${release[@]}" --show-bin-path)/rvflock-torture"
if ! $etcd_profile; then
  exec "$binary" --workers 8 --seconds 60 --faults all "$@"
fi

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "torture.sh: the etcd profile needs etcd and etcdctl (apt-get install etcd-server etcd-client)" >&2
  exit 1
fi
swift build --product rvf-lock-etcd
PATH="$(swift build --show-bin-path):$PATH"
export PATH
cluster=$(mktemp -d /dev/shm/rvflock-torture-etcd-XXXXXX)
endpoints=$(Scripts/etcd-cluster.sh start "$cluster")
Scripts/etcd-cluster.sh chaos "$cluster" 6 &
chaos=$!
# (`|| true`: a failing command would end the trap early under set -e, leaving the members running.)
trap '{ kill $chaos; wait $chaos; } 2>/dev/null || true; Scripts/etcd-cluster.sh stop "$cluster"' EXIT
status=0
RVF_LOCK_ETCD_TTL=5 "$binary" --workers 8 --seconds 20 --faults all --etcd "$endpoints" "$@" || status=$?
echo "torture.sh: etcd members killed meanwhile: $(grep -c killed "$cluster/chaos.log" 2>/dev/null || echo 0)"
exit $status
