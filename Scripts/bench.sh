#!/usr/bin/env bash
# Builds the benchmark tool (Benchmarks/, a nested package) in release and runs it.
#
#   Scripts/bench.sh [quick|full]
#
# full writes Benchmarks/results/latest.md and latest.json (what the README
# quotes); quick (the default, used by .ci/run, well under a minute after the
# build) writes Benchmarks/results/quick.md and quick.json, which git ignores.
# Exits non-zero only when the tool breaks, never because of a measurement.
# BENCH_SCRATCH_PATH overrides the build folder (default Benchmarks/.build).
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

swift build -c release --package-path "$package" --scratch-path "$scratch" >&2
bin="$(swift build -c release --package-path "$package" --scratch-path "$scratch" --show-bin-path)"

mkdir -p "$package/results"
exec "$bin/rvflock-bench" run --profile "$profile" \
    --markdown "$package/results/$name.md" --json "$package/results/$name.json" \
    --invoked-as "Scripts/bench.sh $profile"
