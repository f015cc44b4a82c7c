#!/usr/bin/env bash
# Builds the benchmark tool (the package's rvflock-bench, not a product), installs
# rvf-lock as README.md says (Scripts/check-install.sh), and runs the tool.
#
#   Scripts/bench.sh [quick|full]
#
# full (about 7 minutes) writes Benchmarks/results/latest.md and latest.json
# (what the README quotes); quick (the default, used by .ci/run, well under a
# minute after the builds) writes Benchmarks/results/quick.md and quick.json,
# which git ignores. Exits non-zero only when the tool breaks, never because of
# a measurement.
#
# The rvf-lock measured is the one users install: README.md's "Install
# rvf-lock" commands, run by Scripts/check-install.sh, build it in .build/release
# (statically linked, without symbols) and install it into .build/installed/bin.
# Lock files go in .build-bench-locks at the top of the working tree: the
# working tree's file system (ext4 on the development machine) is the one the
# uncontended goals name; tmpfs is measured besides, from /dev/shm.
# The tool is built with the flags of that install, into the same folder, as
# Scripts/torture.sh builds its harness: after the install only the tool itself
# is compiled.
set -euo pipefail

profile="${1:-quick}"
case "$profile" in
    quick) name=quick ;;
    full) name=latest ;;
    *) echo "usage: $0 [quick|full]" >&2; exit 64 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
results="$root/Benchmarks/results"
installed="$root/.build/installed"
locks="$root/.build-bench-locks"

cd "$root"
"$root/Scripts/check-install.sh" --prefix "$installed" >&2
release=(-c release -Xswiftc -static-executable
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
  -Xswiftc -use-ld=lld -Xswiftc -Xfrontend -Xswiftc -function-sections)
swift build "${release[@]}" --product rvflock-bench >&2
swift build "${release[@]}" --product rvflock-bench-stamp >&2
bin="$(swift build "${release[@]}" --show-bin-path)"

mkdir -p "$results" "$locks"
# From the top of the working tree: the results show paths inside it relative to it.
exec "$bin/rvflock-bench" run --profile "$profile" \
    --rvf-lock "$installed/bin/rvf-lock" --directory "$locks" \
    --markdown "$results/$name.md" --json "$results/$name.json" \
    --invoked-as "Scripts/bench.sh $profile"
