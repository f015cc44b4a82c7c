#!/usr/bin/env bash
# Builds the libFuzzer target in Fuzz/ and runs it for SECONDS (default 60) on the
# committed seed corpus. New inputs go to Fuzz/.build/corpus (not to the committed
# Fuzz/Corpus); a crashing input is saved under Fuzz/.build/artifacts/ and the
# script exits non-zero.
#   Scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
seconds="${1:-60}"
shift || true

flags=(-c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library)
swift build "${flags[@]}"
binary="$(swift build "${flags[@]}" --show-bin-path)/rvflock-fuzz"

mkdir -p .build/corpus .build/artifacts
exec "$binary" .build/corpus Corpus \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=.build/artifacts/ "$@"
