#!/usr/bin/env bash
# Builds the Swift examples of README.md into the program they describe, as a
# user would paste them, and runs it, so that the README cannot drift from the
# library's API.
#
#   Scripts/check-readme.sh [README]
#
# The convention for ```swift blocks of the README: each begins with a comment
# naming the file it goes in.
#
# - `// Package.swift`: a manifest fragment, the arguments of `Package(...)`
#   after `name:` and `platforms:`. It becomes the Package.swift of a fresh
#   package, with `<repository URL>` replaced by a file:// URL of a Git
#   repository holding this checkout's working tree (tracked files and new ones
#   not ignored) on its only branch, `main`, and no tags, as the real repository
#   has today: a `from: "0.1.0"` with no such tag would fail here.
# - `// Sources/TARGET/NAME.swift`: that file of the package, as written. No two
#   blocks name the same file.
#
# The package is built (Swift 6 language mode, from its tools version) and must
# compile its own files without a warning; then its executable runs in an empty
# directory and must exit 0 within 120 s. The package, the repository and the
# build stay in .build/check-readme, so that a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
readme=${1:-README.md}
[ -f "$readme" ] || { echo "check-readme: no $readme" >&2; exit 66; }

state=$root/.build/check-readme
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blocks" "$state"

# One file per block, numbered from 1, in order.
awk -v dir="$work/blocks" '
  /^```swift[[:space:]]*$/ { inside = 1; count++; file = sprintf("%s/%02d.swift", dir, count); printf "" > file; next }
  /^```[[:space:]]*$/ && inside { inside = 0; close(file); next }
  inside { print >> file }
' "$readme"

consumer=$state/consumer
rm -rf "$consumer/Sources"
mkdir -p "$consumer/Sources"
manifest_fragment=""
files=0
for block in "$work"/blocks/*.swift; do
  [ -e "$block" ] || break
  number=$(basename "$block" .swift)
  first=$(head -n 1 "$block")
  case $first in
    "// Package.swift")
      [ -z "$manifest_fragment" ] || { echo "check-readme: more than one // Package.swift block" >&2; exit 65; }
      manifest_fragment=$block
      ;;
    "// Sources/"*.swift)
      path=${first#// }
      [ ! -e "$consumer/$path" ] || { echo "check-readme: two blocks go in $path (the second is block $number)" >&2; exit 65; }
      mkdir -p "$(dirname "$consumer/$path")"
      cp "$block" "$consumer/$path"
      files=$((files + 1))
      ;;
    *)
      echo "check-readme: Swift block $number of $readme does not say where it goes (its first line: $first);" \
        "begin it with // Package.swift or // Sources/TARGET/NAME.swift" >&2
      exit 65
      ;;
  esac
done
[ "$files" -gt 0 ] || { echo "check-readme: no Swift source blocks in $readme" >&2; exit 65; }
if [ -z "$manifest_fragment" ]; then
  echo "check-readme: no // Package.swift block: nothing tells users how to depend on the library" >&2
  exit 65
fi
grep -q '<repository URL>' "$manifest_fragment" || {
  echo "check-readme: the // Package.swift block has no <repository URL> to stand for the repository" >&2
  exit 65
}

# The repository as users see it today: one branch, main, no tags, holding this
# working tree. Kept between runs and committed to, so that its history only grows.
remote=$state/RVFLock.git
if [ ! -d "$remote/.git" ]; then
  rm -rf "$remote"
  mkdir -p "$remote"
  git -C "$remote" init --quiet --initial-branch=main
fi
git -C "$remote" ls-files -z | (cd "$remote" && xargs -0 -r rm -f)
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -f "$file" ] && printf '%s\0' "$file"
done | tar --null -T - -cf - | tar -xf - -C "$remote"
git -C "$remote" add --all
git -C "$remote" -c user.name=check-readme -c user.email=check-readme@localhost commit --quiet --allow-empty \
  -m "the working tree of the checkout"

{
  echo "// swift-tools-version: 6.2"
  echo "import PackageDescription"
  echo
  echo "let package = Package("
  echo "    name: \"MyTool\","
  echo "    platforms: [.macOS(.v15)],"
  tail -n +2 "$manifest_fragment" | sed "s|<repository URL>|file://$remote|"
  echo ")"
} >"$consumer/Package.swift"

targets=$(cd "$consumer/Sources" && ls)
[ "$(wc -w <<<"$targets")" -eq 1 ] || { echo "check-readme: the blocks go in more than one target: $targets" >&2; exit 65; }
echo "check-readme: building the README's $files Swift files into $targets, against this working tree..."
# The branch has moved since the last run: resolve it afresh.
if ! swift package --package-path "$consumer" --scratch-path "$state/build" update >"$work/resolve.log" 2>&1; then
  cat "$consumer/Package.swift" "$work/resolve.log" >&2
  echo "check-readme: the README's dependency line does not resolve" >&2
  exit 1
fi
if ! swift build --package-path "$consumer" --scratch-path "$state/build" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "check-readme: the README's examples do not build (the files are in $consumer/Sources)" >&2
  exit 1
fi
if grep -E "^$consumer/Sources/.*warning:" "$work/build.log" >&2; then
  echo "check-readme: the README's examples compile with warnings" >&2
  exit 1
fi

executable="$(swift build --package-path "$consumer" --scratch-path "$state/build" --show-bin-path)/$targets"
mkdir "$work/run"
echo "check-readme: running $targets in an empty directory..."
if ! (cd "$work/run" && timeout 120 "$executable") >"$work/run.log" 2>&1; then
  cat "$work/run.log" >&2
  echo "check-readme: the README's program failed" >&2
  exit 1
fi
sed 's/^/  | /' "$work/run.log"
echo "check-readme: the README's $files Swift files build (Swift 6, no warnings) and run; the dependency line resolves"
