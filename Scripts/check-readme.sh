#!/usr/bin/env bash
# Compiles every Swift example of README.md, as a user would paste it, so that
# the README cannot drift from the library's API.
#
#   Scripts/check-readme.sh [README]
#
# The convention for ```swift blocks of the README:
#
# - A block whose first line is `// Package.swift` is a manifest fragment: the
#   arguments of `Package(...)` after `name:` and `platforms:`. It goes into the
#   Package.swift of a fresh package, with `<repository URL>` replaced by a
#   temporary Git repository holding the files of this checkout's HEAD commit on
#   its only branch, `main`, and no tags (as the real repository has today), and
#   the package must resolve: a `from: "0.1.0"` with no such tag would fail here.
# - Every other block is compiled as written, as the body of a function the
#   script provides (`async throws` if the block contains `await`, `throws`
#   otherwise), with its `import` lines moved to the top of the file: so a block
#   may use `try` and `await` at its top level, as in a `main.swift`, and may
#   declare types and functions. The blocks go into a fresh package that depends
#   on this checkout (its working tree) by path, compiled in Swift 6 mode with
#   warnings as errors.
#
# The fresh packages are in a temporary folder; the build products are kept in
# .build/check-readme so that a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
readme=${1:-README.md}
[ -f "$readme" ] || { echo "check-readme: no $readme" >&2; exit 66; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blocks"

# One file per block, numbered from 1, in order.
awk -v dir="$work/blocks" '
  /^```swift[[:space:]]*$/ { inside = 1; count++; file = sprintf("%s/%02d.swift", dir, count); printf "" > file; next }
  /^```[[:space:]]*$/ && inside { inside = 0; close(file); next }
  inside { print >> file }
' "$readme"

snippets="$work/snippets"
mkdir -p "$snippets/Sources/ReadmeSnippets"
manifest_fragment=""
compiled=0
for block in "$work"/blocks/*.swift; do
  [ -e "$block" ] || break
  number=$(basename "$block" .swift)
  if [ "$(head -n 1 "$block")" = "// Package.swift" ]; then
    [ -z "$manifest_fragment" ] || { echo "check-readme: more than one // Package.swift block" >&2; exit 65; }
    manifest_fragment=$block
    continue
  fi
  effects="throws"
  grep -qw "await" "$block" && effects="async throws"
  {
    echo "// README.md, Swift block $number, compiled as written inside a function."
    grep -E '^import [A-Za-z_]' "$block" || true
    echo
    echo "func readmeBlock$number() $effects {"
    grep -vE '^import [A-Za-z_]' "$block"
    echo "}"
  } >"$snippets/Sources/ReadmeSnippets/Block$number.swift"
  compiled=$((compiled + 1))
done
[ "$compiled" -gt 0 ] || { echo "check-readme: no Swift blocks in $readme" >&2; exit 65; }

cat >"$snippets/Package.swift" <<EOF
// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "ReadmeSnippets",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RVFLock", path: "$root")],
    targets: [
        .target(
            name: "ReadmeSnippets",
            dependencies: [.product(name: "RVFLock", package: "RVFLock")],
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-warnings-as-errors"])]
        ),
    ]
)
EOF
echo "check-readme: compiling $compiled Swift blocks of $readme against this checkout..."
if ! swift build --package-path "$snippets" --scratch-path "$root/.build/check-readme" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "check-readme: the README's Swift blocks do not compile (files: Block<N>.swift = the README's N-th Swift block)" >&2
  exit 1
fi
if grep -q "warning:" "$work/build.log"; then
  grep -A5 "warning:" "$work/build.log" >&2
  echo "check-readme: the README's Swift blocks compile with warnings" >&2
  exit 1
fi

if [ -z "$manifest_fragment" ]; then
  echo "check-readme: no // Package.swift block: nothing tells users how to depend on the library" >&2
  exit 65
fi
grep -q '<repository URL>' "$manifest_fragment" || {
  echo "check-readme: the // Package.swift block has no <repository URL> to stand for the repository" >&2
  exit 65
}
# The repository as users see it today: one branch, main, no tags. Made afresh from
# HEAD's files rather than pushed, so that a shallow CI checkout works too.
remote="$work/RVFLock.git"
mkdir -p "$remote"
git archive HEAD | tar -x -C "$remote"
git -C "$remote" init --quiet --initial-branch=main
git -C "$remote" add --all
git -C "$remote" -c user.name=check-readme -c user.email=check-readme@localhost commit --quiet -m "HEAD of the checkout"
consumer="$work/consumer"
mkdir -p "$consumer/Sources/MyTool"
echo 'import RVFLock' >"$consumer/Sources/MyTool/main.swift"
{
  echo "// swift-tools-version: 6.2"
  echo "import PackageDescription"
  echo
  echo "let package = Package("
  echo "    name: \"Consumer\","
  echo "    platforms: [.macOS(.v15)],"
  tail -n +2 "$manifest_fragment" | sed "s|<repository URL>|file://$remote|"
  echo ")"
} >"$consumer/Package.swift"
echo "check-readme: resolving the README's dependency line against a copy of this repository with no tags..."
if ! swift package --package-path "$consumer" --scratch-path "$work/consumer-build" resolve >"$work/resolve.log" 2>&1; then
  cat "$consumer/Package.swift" "$work/resolve.log" >&2
  echo "check-readme: the README's dependency line does not resolve" >&2
  exit 1
fi
echo "check-readme: $compiled Swift blocks compile; the dependency line resolves"
