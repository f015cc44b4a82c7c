#!/usr/bin/env bash
# Generates rvf-lock's manual page and its bash, zsh and fish completions from
# its argument parser, and installs them.
#
#   Scripts/install-extras.sh [--prefix DIR] [--stage DIR] [--check]
#
#   --prefix DIR  install under DIR (default /usr/local):
#                   DIR/share/man/man1/rvf-lock.1
#                   DIR/share/bash-completion/completions/rvf-lock
#                   DIR/share/zsh/site-functions/_rvf-lock
#                   DIR/share/fish/vendor_completions.d/rvf-lock.fish
#   --stage DIR   write the same tree under DIR instead (for packaging, or to look first)
#   --check       also render the manual page (man -l), failing on any warning, and
#                 complete a command line with each installed completion in a real
#                 interactive bash, zsh and fish (those of them that are installed, with
#                 python3 to drive them; a missing one is named as skipped); CI runs
#                 `--stage TMP --check` with all three installed
#
# The manual page comes from swift-argument-parser's GenerateManual plugin
# (`swift package plugin generate-manual`, which builds the package in debug
# mode and reads `rvf-lock --experimental-dump-help`); the completions from
# `rvf-lock --generate-completion-script SHELL`, run from that same debug build.
# Debug, not release: the plugin builds every product, rvf-lock-etcd's networking
# stack included, which takes many minutes in release on 2 cores and none after
# `swift build`; the help texts, and so the page and completions, are the same.
# Both describe the rvf-lock of this checkout: install the binary built from it
# (see README.md, "Install rvf-lock"). The debug build never replaces the
# statically linked rvf-lock that README's install commands build in
# .build/release (with other compiler flags, which would make each build undo
# the other's). The completions work the same
# with either binary; Scripts/check-install.sh --check runs the completion tests
# against the installed one.
#
# The generated page is touched up in three ways, each because the generator
# cannot be told: blank lines of the help texts become paragraph breaks (.Pp;
# groff warns about blank lines in mdoc), hidden internal subcommands (named
# `_...`, such as `_selftest-helper`) are left out, and the generic EXIT STATUS
# ("0 on success, >0 if an error occurs", untrue for `status`) points to each
# command's own list.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

prefix=/usr/local
stage=""
check=false
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --stage) stage=${2:?--stage needs a directory}; shift 2 ;;
    --check) check=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-extras: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
root=${stage:-$prefix}

echo "install-extras: generating the manual page (debug build of the package)..."
swift package plugin generate-manual --configuration debug >/dev/null
generated=.build/plugins/GenerateManual/outputs/rvf-lock/rvf-lock.1
[ -s "$generated" ] || { echo "install-extras: the plugin wrote no $generated" >&2; exit 70; }
binary="$(swift build --show-bin-path)/rvf-lock"
[ -x "$binary" ] || { echo "install-extras: no rvf-lock at $binary" >&2; exit 70; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '
  /^\.It Em _/ { skipping = 1; next }
  skipping { if ($0 == ".El") skipping = 0; next }
  /^\.Ex -std$/ {
    print "Each command above lists its own exit statuses."
    print "In short: 0 success; 1 and 2 lock states"
    print ".Pq Cm status , break ;"
    print "64 usage; 66 bad FILE or lock path; 69 the file system or system cannot support the lock;"
    print "70 the lock was lost, or an unexpected error; 73 the lock file cannot be created or removed;"
    print "75 the lock is busy or the wait timed out; 77 no permission;"
    print ".Cm exec :"
    print "the command'"'"'s own status, 126 not executable, 127 not found, 128 + N killed by signal N."
    next
  }
  /^$/ { print ".Pp"; next }
  { print }
' "$generated" >"$work/rvf-lock.1"
"$binary" --generate-completion-script bash >"$work/rvf-lock.bash"
"$binary" --generate-completion-script zsh >"$work/_rvf-lock"
"$binary" --generate-completion-script fish >"$work/rvf-lock.fish"

if $check; then
  # groff's mdoc warnings go to standard error: any is a failure.
  warnings=$(MANWIDTH=80 man -l "$work/rvf-lock.1" 2>&1 >/dev/null || true)
  if [ -n "$warnings" ]; then
    echo "install-extras: man -l warns about the page:" >&2
    echo "$warnings" >&2
    exit 1
  fi
  rendered=$(MANWIDTH=80 man -l "$work/rvf-lock.1" 2>/dev/null)
  for expected in "rvf-lock exec" "Exit status:" "--conflict-exit-code" "--allow-lock-suffix"; do
    grep -q -- "$expected" <<<"$rendered" || { echo "install-extras: the page lacks '$expected'" >&2; exit 1; }
  done
  if grep -qE '(^|[[:space:]])_[a-z]' <<<"$rendered"; then
    echo "install-extras: the page shows an internal command: $(grep -E '(^|[[:space:]])_[a-z]' <<<"$rendered" | head -1)" >&2
    exit 1
  fi
  # The page is all a user of the installed tool has: it must not send them to a file of the source tree.
  if grep -qE 'Documentation/|README|\.md\b' <<<"$rendered"; then
    echo "install-extras: the page points to a file that is not installed: $(grep -E 'Documentation/|README|\.md\b' <<<"$rendered" | head -1)" >&2
    exit 1
  fi
  echo "install-extras: the manual page renders without warnings"
fi

install -d "$root/share/man/man1" "$root/share/bash-completion/completions" \
  "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d"
install -m 0644 "$work/rvf-lock.1" "$root/share/man/man1/rvf-lock.1"
install -m 0644 "$work/rvf-lock.bash" "$root/share/bash-completion/completions/rvf-lock"
install -m 0644 "$work/_rvf-lock" "$root/share/zsh/site-functions/_rvf-lock"
install -m 0644 "$work/rvf-lock.fish" "$root/share/fish/vendor_completions.d/rvf-lock.fish"
if $check; then
  # Each shell loads the installed file the way it finds it under PREFIX, in a real
  # interactive shell: bash-completion's file sourced, zsh through fpath and compinit,
  # fish through its completion path. rvf-lock (which completes COMMAND) is the one just built.
  export PATH="$(dirname "$binary"):$PATH"
  for shell in bash zsh fish; do
    case $shell in
      bash) setup="source '$root/share/bash-completion/completions/rvf-lock'" ;;
      zsh) setup="fpath=('$root/share/zsh/site-functions' \$fpath); autoload -Uz compinit; compinit -u -D" ;;
      fish) setup="set -p fish_complete_path '$root/share/fish/vendor_completions.d'" ;;
    esac
    if ! command -v "$shell" >/dev/null || ! command -v python3 >/dev/null; then
      echo "install-extras: SKIPPED the $shell completion check: $shell or python3 is not installed"
      continue
    fi
    mkdir -p "$work/try/man"
    completed=$(cd "$work/try" && python3 "$repo/Scripts/complete-in-shell.py" "$shell" "$setup" "rvf-lock ex" "rvf-lock selftest ma") || {
      echo "install-extras: the installed $shell completion could not be tried" >&2
      exit 1
    }
    [ "$completed" = '["rvf-lock exec ", "rvf-lock selftest man/"]' ] || {
      echo "install-extras: the installed $shell completion completed $completed" >&2
      exit 1
    }
    echo "install-extras: the installed $shell completion completes commands and directories"
  done
fi

echo "install-extras: installed under $root:"
echo "  share/man/man1/rvf-lock.1 (man rvf-lock)"
echo "  share/bash-completion/completions/rvf-lock, share/zsh/site-functions/_rvf-lock,"
echo "  share/fish/vendor_completions.d/rvf-lock.fish (loaded by each shell's completion system)"
