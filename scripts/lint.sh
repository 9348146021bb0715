#!/usr/bin/env bash
# Lint gate: formatting and clippy with warnings as errors, for the whole workspace.
#
#   scripts/lint.sh
#
# scripts/test.sh runs this first (set OCIAUTH_SKIP_LINT=1 to skip it there while iterating);
# CI therefore fails on any rustfmt difference or clippy warning.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> cargo fmt --all --check"
cargo fmt --all -- --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
