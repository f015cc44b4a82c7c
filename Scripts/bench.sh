#!/usr/bin/env bash
# Builds the benchmark tool (Benchmarks/, a nested package) and the rvf-lock
# binary in release, and runs the tool.
#
#   Scripts/bench.sh [quick|full]
#
# full (about 5 minutes) writes Benchmarks/results/latest.md and latest.json
# (what the README quotes); quick (the default, used by .ci/run, well under a
# minute after the builds) writes Benchmarks/results/quick.md and quick.json,
# which git ignores. Exits non-zero only when the tool breaks, never because of
# a measurement.
#
# rvf-lock is built as users should install it (release, --static-swift-stdlib),
# in a scratch folder of its own so that it never disturbs the debug build.
# Lock files go in .build-bench-locks at the top of the working tree: the
# working tree's file system (ext4 on the development machine) is the one the
# uncontended goals name; tmpfs is measured besides, from /dev/shm.
#
# BENCH_SCRATCH_PATH overrides the benchmark tool's build folder (default
# Benchmarks/.build), BENCH_CLI_SCRATCH_PATH rvf-lock's (default .build-bench-cli).
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
cli_scratch="${BENCH_CLI_SCRATCH_PATH:-$root/.build-bench-cli}"
locks="$root/.build-bench-locks"

swift build -c release --package-path "$package" --scratch-path "$scratch" >&2
bin="$(swift build -c release --package-path "$package" --scratch-path "$scratch" --show-bin-path)"
swift build -c release --package-path "$root" --scratch-path "$cli_scratch" \
    --product rvf-lock --static-swift-stdlib >&2
cli_bin="$(swift build -c release --package-path "$root" --scratch-path "$cli_scratch" --show-bin-path)"

mkdir -p "$package/results" "$locks"
# From the top of the working tree: the results show paths inside it relative to it.
cd "$root"
exec "$bin/rvflock-bench" run --profile "$profile" \
    --rvf-lock "$cli_bin/rvf-lock" --directory "$locks" \
    --markdown "$package/results/$name.md" --json "$package/results/$name.json" \
    --invoked-as "Scripts/bench.sh $profile"
