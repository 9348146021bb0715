#!/usr/bin/env bash
# The project's test command. CI runs it through .ci/run; run it the same way by hand:
#
#   scripts/test.sh
#
# On a clean checkout of a fresh machine (Debian, root, Rust + cargo-nextest, Python 3 + pip,
# Node) it installs what the tests need, then lints and runs every test of the workspace.
# A second run reuses everything it installed and only re-runs the tests.
#
# Steps:
#   1. tools: the official OCI Python SDK + CLI (pinned) in .interop/venv, the openssl CLI,
#      Debian's Chromium + playwright-core (scripts/setup-browser.sh) and the oidc-provider
#      IdP (scripts/setup-idp.sh);
#   2. lint: scripts/lint.sh (rustfmt --check, clippy -D warnings), first, so a lint failure
#      fails fast; OCIAUTH_SKIP_LINT=1 skips it while iterating locally (CI never sets it);
#   3. tests: doc tests, then `cargo nextest run --workspace` (its Summary line is the last
#      one printed), or plain `cargo test --workspace` where nextest is missing.
#
# Environment it reads:
#   OCIAUTH_INTEROP_VENV   where the venv lives (default .interop/venv); exported for the tests
#   OCIAUTH_CHROMIUM       the Chromium to drive (default /usr/bin/chromium); exported
#   OCIAUTH_SKIP_LINT=1    skip step 2
#   CI                     set by CI; the interop tests then fail instead of skipping when the
#                          venv is missing (tests/interop/src/lib.rs)
# Everything it downloads or builds stays under .interop/, target/ and the git-ignored
# node_modules of tests/interop/{browser,idp}/ (plus Debian packages).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
INTEROP="$ROOT/.interop"
VENV="${OCIAUTH_INTEROP_VENV:-$INTEROP/venv}"
OCI_SDK_VERSION="2.189.0"
OCI_CLI_VERSION="3.95.1"

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'scripts/test.sh: %s\n' "$*" >&2
    exit 1
}

mkdir -p "$INTEROP"

# --- apt helper: `apt-get update` at most once per run, then install -------------------------
APT_UPDATED=0
apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        die "need root to 'apt-get install $*' (install it by hand, or run as root)"
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- 1a. official OCI Python SDK + CLI, pinned --------------------------------------------
venv_ready() {
    [[ -x "$VENV/bin/python" && -x "$VENV/bin/oci" ]] || return 1
    "$VENV/bin/python" - "$OCI_SDK_VERSION" "$OCI_CLI_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("oci"), version("oci-cli")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if venv_ready; then
    step "oci $OCI_SDK_VERSION + oci-cli $OCI_CLI_VERSION already in $VENV"
else
    step "installing oci==$OCI_SDK_VERSION oci-cli==$OCI_CLI_VERSION into $VENV (about 2 minutes)"
    command -v python3 >/dev/null || die "python3 is missing"
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "$VENV"
    fi
    # pip reaches PyPI through the machine's CA settings, so this runs before they are unset.
    if ! PIP_CACHE_DIR="$INTEROP/pip-cache" "$VENV/bin/python" -m pip install \
        --disable-pip-version-check --no-input --quiet \
        "oci==$OCI_SDK_VERSION" "oci-cli==$OCI_CLI_VERSION" >"$INTEROP/pip.log" 2>&1; then
        tail -n 40 "$INTEROP/pip.log" >&2
        die "pip install failed (full log: $INTEROP/pip.log)"
    fi
    venv_ready || die "the venv at $VENV does not report oci $OCI_SDK_VERSION / oci-cli $OCI_CLI_VERSION"
fi
export OCIAUTH_INTEROP_VENV="$VENV"

# --- 1b. openssl CLI (fixtures of the key-format tests; benchmarks) ------------------------
if ! command -v openssl >/dev/null; then
    step "installing openssl"
    apt_install openssl
fi

# --- 1c. Chromium + playwright-core, for the browser-login test ------------------------------
# Debian's Chromium, only when missing (about 40 s, 290 MB); the test drives it through the npm
# package playwright-core (no browser download), installed by scripts/setup-browser.sh.
CHROMIUM="${OCIAUTH_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
    step "installing chromium (about 40 s)"
    apt_install chromium
fi
export OCIAUTH_CHROMIUM="$CHROMIUM"
step "browser automation (scripts/setup-browser.sh)"
scripts/setup-browser.sh

# --- 1d. oidc-provider IdP, for the workload identity federation tests ---------------------
# npm package `oidc-provider`, pinned in tests/interop/idp/package{,-lock}.json; skipped when
# the pinned version is already installed (testing-and-dependencies.md §3).
step "oidc-provider IdP (scripts/setup-idp.sh)"
scripts/setup-idp.sh

# --- 2. lint -------------------------------------------------------------------------------
if [[ "${OCIAUTH_SKIP_LINT:-}" == 1 ]]; then
    step "lint skipped (OCIAUTH_SKIP_LINT=1)"
else
    step "lint (scripts/lint.sh)"
    scripts/lint.sh
fi

# --- 3. tests ------------------------------------------------------------------------------
# Download crates while the machine's CA settings are still in place.
step "cargo fetch --locked"
cargo fetch --locked

# This machine presets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE to the system bundle. The SDK's
# vendored requests lets them override `--cert-bundle` / OCI_CLI_CERT_BUNDLE, so the official
# CLI could never trust the emulator's test CA (testing-and-dependencies.md §1.3). The tests
# pass --cert-bundle (or set REQUESTS_CA_BUNDLE themselves, per command) instead.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo test --doc --workspace --locked"
    cargo test --doc --workspace --locked
    step "cargo nextest run --workspace --locked"
    exec cargo nextest run --workspace --locked --no-fail-fast
fi

step "cargo test --workspace --locked (cargo-nextest not found)"
log="$INTEROP/cargo-test.log"
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# cargo prints one result line per test binary, the last often a doc-test run of 0 tests;
# close with one line that counts them all.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "cargo test: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
