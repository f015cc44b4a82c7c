#!/usr/bin/env bash
# Builds the DocC catalogs of the libraries (Sources/RVFLock/RVFLock.docc, then
# Sources/RVFLockEtcd/RVFLockEtcd.docc) with the
# toolchain's own `docc`, and fails on any warning: a broken symbol link, a
# missing article, a malformed directive.
#
#   Scripts/check-docs.sh [--output DIR]
#
#   --output DIR  keep the built documentation archive in DIR (default: a
#                 temporary folder, removed afterwards)
#
# No documentation plugin: the package's users would all have to resolve it.
# Instead the symbol graph comes from `swift package dump-symbol-graph` (which
# builds the package if needed) and `docc convert` reads it.
set -euo pipefail
cd "$(dirname "$0")/.."

output=""
while [ $# -gt 0 ]; do
  case $1 in
    --output) output=${2:?--output needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-docs: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done

docc=$(command -v docc || true)
if [ -z "$docc" ]; then
  # Toolchains ship it beside swift.
  candidate="$(dirname "$(readlink -f "$(command -v swift)")")/docc"
  [ -x "$candidate" ] && docc=$candidate
fi
[ -n "$docc" ] || { echo "check-docs: no docc in PATH or beside swift" >&2; exit 69; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$output" ] || output="$work/RVFLock.doccarchive"

# Where SwiftPM writes the graphs: beside its build folder (the folder of
# `swift build --show-bin-path`), not read from what it prints.
swift package dump-symbol-graph --emit-extension-block-symbols >"$work/dump.log" 2>&1 || { cat "$work/dump.log" >&2; exit 1; }
graphs="$(dirname "$(swift build --show-bin-path)")/symbolgraph"
[ -f "$graphs/RVFLock.symbols.json" ] || { echo "check-docs: no RVFLock symbol graph in $graphs" >&2; cat "$work/dump.log" >&2; exit 1; }
# Only the library's own graphs: the others are tests, tools and C shims.
mkdir -p "$work/symbols"
cp "$graphs"/RVFLock.symbols.json "$work/symbols/"
cp "$graphs"/RVFLock@*.symbols.json "$work/symbols/" 2>/dev/null || true

log="$work/docc.log"
status=0
"$docc" convert Sources/RVFLock/RVFLock.docc \
  --additional-symbol-graph-dir "$work/symbols" \
  --output-path "$output" \
  --fallback-display-name RVFLock --fallback-bundle-identifier RVFLock \
  --warnings-as-errors >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ] || grep -qE "(warning|error):" "$log"; then
  cat "$log" >&2
  echo "check-docs: docc convert reported problems (exit $status)" >&2
  exit 1
fi
pages=$(find "$output/data/documentation" -name '*.json' | wc -l)
echo "check-docs: the catalog builds without warnings ($pages pages)"

# RVFLockEtcd's catalog, the same way (its archive beside RVFLock's when --output is given).
mkdir -p "$work/etcd-symbols"
cp "$graphs"/RVFLockEtcd.symbols.json "$work/etcd-symbols/"
cp "$graphs"/RVFLockEtcd@*.symbols.json "$work/etcd-symbols/" 2>/dev/null || true
etcd_output="$(dirname "$output")/RVFLockEtcd.doccarchive"
status=0
"$docc" convert Sources/RVFLockEtcd/RVFLockEtcd.docc \
  --additional-symbol-graph-dir "$work/etcd-symbols" \
  --output-path "$etcd_output" \
  --fallback-display-name RVFLockEtcd --fallback-bundle-identifier RVFLockEtcd \
  --warnings-as-errors >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ] || grep -qE "(warning|error):" "$log"; then
  cat "$log" >&2
  echo "check-docs: docc convert reported problems in RVFLockEtcd's catalog (exit $status)" >&2
  exit 1
fi
pages=$(find "$etcd_output/data/documentation" -name '*.json' | wc -l)
echo "check-docs: RVFLockEtcd's catalog builds without warnings ($pages pages)"
