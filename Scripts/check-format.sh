#!/usr/bin/env bash
# Checks that every Swift file is formatted as .swift-format says (swift-format,
# which comes with the toolchain). To fix: swift format -i -r Sources Tests Fuzz/Sources
set -euo pipefail
cd "$(dirname "$0")/.."
swift format lint --strict -r Sources Tests Fuzz/Sources
echo "check-format: every Swift file is formatted as .swift-format says"
