#!/usr/bin/env bash
# Signing throughput: ociauth's signer vs `openssl speed rsa2048` (and the Python SDK, when the
# interop venv exists), on 1 thread and on all cores, in one run. Prints absolute numbers and
# ratios; the ratios are what to compare across (noisy, shared) machines.
#
#   bench/sign_throughput.sh [SECONDS]     # default 5 s per measurement; about a minute in all
#
# Needs: cargo, openssl. Optional: the venv of scripts/test.sh (.interop/venv or
# $OCIAUTH_INTEROP_VENV) for the Python SDK line. Results: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECS="${1:-5}"
CORES="$(nproc)"
VENV="${OCIAUTH_INTEROP_VENV:-.interop/venv}"

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: ${cpu:-unknown CPU}, $CORES cores, $(uname -sr)"
echo "openssl: $(openssl version)"
echo "rustc:   $(rustc --version)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
echo

echo "building the release bench (cargo bench -p ociauth --bench sign_throughput)..."
cargo bench -p ociauth --bench sign_throughput --no-run --quiet 2>/dev/null ||
    cargo bench -p ociauth --bench sign_throughput --no-run
rust_out="$(cargo bench -p ociauth --bench sign_throughput --quiet -- --seconds "$SECS")"
echo "$rust_out" | grep -v '='
get() { echo "$rust_out" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
rust1="$(get ociauth_sign_1t)"
rustn="$(get ociauth_sign_nt)"
rawr1="$(get ociauth_raw_1t)"

# `openssl speed` prints "rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>".
ossl_rate() { awk '/^rsa +2048 bits/ { print $6 }'; }
echo "openssl speed -seconds $SECS rsa2048 ..."
ossl1="$(openssl speed -seconds "$SECS" rsa2048 2>/dev/null | ossl_rate)"
echo "openssl speed -multi $CORES -seconds $SECS rsa2048 ..."
ossln="$(openssl speed -multi "$CORES" -seconds "$SECS" rsa2048 2>/dev/null | ossl_rate)"

sdk1=""
if [[ -x "$VENV/bin/python" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
    echo "Python SDK oci.signer.Signer, 1 thread, $SECS s ..."
    sdk1="$(SUPPRESS_LABEL_WARNING=True "$VENV/bin/python" bench/py_sign_throughput.py "$tmp/key.pem" "$SECS" |
        awk -F= '$1 == "sdk_sign_1t" { print $2 }')"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| what (RSA-2048 signatures/s)            | 1 thread | $CORES threads | ${CORES}t / 1t |"
echo "|------------------------------------------|---------:|----------:|--------:|"
printf '| ociauth signer::sign (GET, full headers) | %8.0f | %9.0f | %7s |\n' "$rust1" "$rustn" "$(ratio "$rustn" "$rust1")"
printf '| ociauth PrivateKey::sign_sha256 (raw)    | %8.0f |         - |       - |\n' "$rawr1"
printf '| openssl speed rsa2048 (raw sign)         | %8.0f | %9.0f | %7s |\n' "$ossl1" "$ossln" "$(ratio "$ossln" "$ossl1")"
if [[ -n "$sdk1" ]]; then
    printf '| Python SDK oci.signer.Signer (GET)       | %8.0f |         - |       - |\n' "$sdk1"
fi
echo
echo "ratio ociauth / openssl, 1 thread:        $(ratio "$rust1" "$ossl1")   (raw sign_sha256: $(ratio "$rawr1" "$ossl1"))"
echo "ratio ociauth / openssl, $CORES threads:        $(ratio "$rustn" "$ossln")"
if [[ -n "$sdk1" ]]; then
    echo "ratio ociauth / Python SDK, 1 thread:     $(ratio "$rust1" "$sdk1")"
fi
