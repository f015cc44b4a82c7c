#!/usr/bin/env bash
# Builds the benchmark tool (Benchmarks/, a nested package), installs rvf-lock
# as README.md says (Scripts/check-install.sh), and runs the tool.
#
#   Scripts/bench.sh [quick|full]
#
# full (about 5 minutes) writes Benchmarks/results/latest.md and latest.json
# (what the README quotes); quick (the default, used by .ci/run, well under a
# minute after the builds) writes Benchmarks/results/quick.md and quick.json,
# which git ignores. Exits non-zero only when the tool breaks, never because of
# a measurement.
#
# The rvf-lock measured is the one users install: README.md's "Install
# rvf-lock" commands, run by Scripts/check-install.sh, build it in .build/release
# (statically linked) and install it, stripped, into .build/installed/bin.
# Lock files go in .build-bench-locks at the top of the working tree: the
# working tree's file system (ext4 on the development machine) is the one the
# uncontended goals name; tmpfs is measured besides, from /dev/shm.
#
# BENCH_SCRATCH_PATH overrides the benchmark tool's build folder (default
# Benchmarks/.build).
set -euo pipefail

profile="${1:-quick}"
case "$profile" in
    quick) name=quick ;;
    full) name=latest ;;
    *) echo "usage: $0 [quick|full]" >&2; exit 64 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
package="$root/Benchmarks"
scratch="${BENCH_SCRATCH_PATH:-$package/.build}"
installed="$root/.build/installed"
locks="$root/.build-bench-locks"

swift build -c release --package-path "$package" --scratch-path "$scratch" >&2
bin="$(swift build -c release --package-path "$package" --scratch-path "$scratch" --show-bin-path)"
"$root/Scripts/check-install.sh" --prefix "$installed" >&2

mkdir -p "$package/results" "$locks"
# From the top of the working tree: the results show paths inside it relative to it.
cd "$root"
exec "$bin/rvflock-bench" run --profile "$profile" \
    --rvf-lock "$installed/bin/rvf-lock" --directory "$locks" \
    --markdown "$package/results/$name.md" --json "$package/results/$name.json" \
    --invoked-as "Scripts/bench.sh $profile"
