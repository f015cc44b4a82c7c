#!/usr/bin/env bash
# Installs rvf-lock exactly as README.md's "Install rvf-lock" says, into a
# folder of this checkout instead of /usr/local, and with --check tests what it
# installed.
#
#   Scripts/check-install.sh [--prefix DIR] [--check]
#   Scripts/check-install.sh --print-commands
#
#   --prefix DIR  install into DIR/bin (default .build/installed); the build itself
#                 goes where README.md's commands put it (.build/release)
#   --check       then check the installed binary: statically linked (no dynamic
#                 loader, which is where its start-up time went), and the CLI test
#                 suite (Tests/RVFLockCLITests) passes against it
#                 (RVFLOCK_TOOL_DIRECTORY=DIR/bin); CI runs this
#   --print-commands  print the README's commands as they stand and do nothing
#                 else (Scripts/startup-order.py builds from them)
#
# The commands are read from the README's first ```sh block after the heading,
# with /usr/local/bin/ replaced by DIR/bin/, so the README cannot drift from
# what CI builds; Scripts/bench.sh measures the binary this installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

prefix=$root/.build/installed
check=false
print_commands=false
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --check) check=true; shift ;;
    --print-commands) print_commands=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-install: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
commands=$(awk '
  /^## Install rvf-lock[[:space:]]*$/ { section = 1; next }
  section && /^## / { exit }
  section && /^```sh[[:space:]]*$/ { inside = 1; next }
  inside && /^```[[:space:]]*$/ { exit }
  inside { print }
' README.md)
grep -q '/usr/local/bin/' <<<"$commands" || {
  echo "check-install: README.md's \"Install rvf-lock\" has no sh block installing into /usr/local/bin/:" >&2
  echo "$commands" >&2
  exit 65
}
if $print_commands; then
  echo "$commands"
  exit 0
fi
mkdir -p "$prefix/bin"
prefix=$(cd "$prefix" && pwd)

commands=${commands//\/usr\/local\/bin\//$prefix/bin/}
echo "check-install: running README.md's install commands, into $prefix/bin:"
sed 's/^/  /' <<<"$commands"
PATH="$prefix/bin:$PATH" bash -euo pipefail -c "$commands"

binary=$prefix/bin/rvf-lock
[ -x "$binary" ] || { echo "check-install: the commands installed no $binary" >&2; exit 70; }
echo "check-install: $binary, $(stat -c %s "$binary") bytes"
$check || exit 0

if readelf -lW "$binary" | grep -q 'INTERP'; then
  echo "check-install: $binary is dynamically linked (it names a program interpreter); README.md promises a static one" >&2
  exit 1
fi
echo "check-install: statically linked; the CLI tests against it:"
RVFLOCK_TOOL_DIRECTORY="$prefix/bin" swift test --filter RVFLockCLITests
