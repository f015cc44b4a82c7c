#!/usr/bin/env bash
# Checks that mistakes the API is meant to make impossible do not compile, and
# with the intended diagnostic: blocking calls (acquire, withLock,
# waitUntilAvailable) from async code, which would hold a thread of the
# concurrency pool while waiting.
#
#   Scripts/check-misuse.sh
#
# Each file of Tests/CompileFailures is a user's source file whose first line is
# `// expect: TEXT`. Each becomes a target of a fresh package (in a temporary
# folder) that depends on this checkout by path; building that target must fail
# with TEXT among the errors. A control target, the correct async use, must build,
# so that a failure of the setup cannot pass for a refused misuse.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
package="$work/misuse"
mkdir -p "$package/Sources/Control"
cat >"$package/Sources/Control/Control.swift" <<'EOF'
import RVFLock

final class ProgressLog {
    var lines: [String] = []
}

actor Ledger {
    var entries = 0

    func append(_ lock: WriterLock) async throws {
        try await lock.withLock { _ in entries += 1 }
        let handle = try await lock.acquire(onProgress: { progress in print(progress) })
        try handle.release()
        _ = try await lock.waitUntilAvailable()
    }
}

func blockingFromSynchronousCode(_ lock: WriterLock) throws {
    let log = ProgressLog()
    try lock.withLock(onProgress: { progress in log.lines.append("\(progress.status)") }) { _ in }
}
EOF

targets=()
for file in Tests/CompileFailures/*.swift; do
  name=$(basename "$file" .swift)
  mkdir -p "$package/Sources/$name"
  cp "$file" "$package/Sources/$name/$name.swift"
  targets+=("$name")
done
[ ${#targets[@]} -gt 0 ] || { echo "check-misuse: no files in Tests/CompileFailures" >&2; exit 66; }

{
  echo "// swift-tools-version: 6.2"
  echo "import PackageDescription"
  echo
  echo "let rvfLock: [Target.Dependency] = [.product(name: \"RVFLock\", package: \"RVFLock\")]"
  echo "let package = Package("
  echo "    name: \"Misuse\","
  echo "    platforms: [.macOS(.v15)],"
  echo "    dependencies: [.package(name: \"RVFLock\", path: \"$root\")],"
  echo "    targets: ["
  echo "        .target(name: \"Control\", dependencies: rvfLock, swiftSettings: [.swiftLanguageMode(.v6)]),"
  for name in "${targets[@]}"; do
    echo "        .target(name: \"$name\", dependencies: rvfLock, swiftSettings: [.swiftLanguageMode(.v6)]),"
  done
  echo "    ]"
  echo ")"
} >"$package/Package.swift"

build() { swift build --package-path "$package" --scratch-path "$root/.build/check-misuse" --target "$1" >"$work/$1.log" 2>&1; }

if ! build Control; then
  cat "$work/Control.log" >&2
  echo "check-misuse: the correct use does not compile; fix that first" >&2
  exit 1
fi
failed=0
for name in "${targets[@]}"; do
  expected=$(head -n 1 "Tests/CompileFailures/$name.swift" | sed -n 's|^// expect: ||p')
  [ -n "$expected" ] || { echo "check-misuse: $name.swift does not start with // expect: TEXT" >&2; failed=1; continue; }
  if build "$name"; then
    echo "check-misuse: $name compiles, but must not ($expected)" >&2
    failed=1
  elif ! grep -F -- "error:" "$work/$name.log" | grep -qF -- "$expected"; then
    grep "error:" "$work/$name.log" | sort -u >&2 || cat "$work/$name.log" >&2
    echo "check-misuse: $name fails, but not with: $expected" >&2
    failed=1
  else
    echo "check-misuse: $name is refused: $expected"
  fi
done
[ "$failed" -eq 0 ] || exit 1
echo "check-misuse: ${#targets[@]} misuses refused; the correct use compiles"
