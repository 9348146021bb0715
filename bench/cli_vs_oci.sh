#!/usr/bin/env bash
# End to end: `ociauth os ns get` vs the official `oci os ns get` against a running emulator.
# Wall time with hyperfine, peak RSS with `/usr/bin/time -v`; prints both and the ratios.
#
#   cargo build --release -p ociauth-cli        # target/release/ociauth
#   <start the emulator; note its endpoint and the config file it wrote>
#   bench/cli_vs_oci.sh --endpoint http://127.0.0.1:PORT --config-file PATH [--profile NAME]
#                       [--cert-bundle CA.pem] [--runs N]
#
# Defaults: $OCIAUTH_BENCH_ENDPOINT, $OCIAUTH_BENCH_CONFIG, profile DEFAULT, 20 runs.
# Needs the venv of scripts/test.sh (.interop/venv or $OCIAUTH_INTEROP_VENV) for `oci`;
# installs hyperfine and time from apt when missing. Both commands get the same flags
# (`--config-file --profile --endpoint [--cert-bundle]`); `oci` also gets --no-retry.
set -euo pipefail
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.."

ENDPOINT="${OCIAUTH_BENCH_ENDPOINT:-}"
CONFIG="${OCIAUTH_BENCH_CONFIG:-}"
PROFILE="DEFAULT"
CA=""
RUNS=20
while [[ $# -gt 0 ]]; do
    case "$1" in
    --endpoint) ENDPOINT="$2"; shift 2 ;;
    --config-file) CONFIG="$2"; shift 2 ;;
    --profile) PROFILE="$2"; shift 2 ;;
    --cert-bundle) CA="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$SELF"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
die() { echo "bench/cli_vs_oci.sh: $*" >&2; exit 1; }
[[ -n "$ENDPOINT" ]] || die "give --endpoint (the running emulator's URL)"
[[ -f "$CONFIG" ]] || die "give --config-file (the emulator's OCI config file); '$CONFIG' does not exist"

OCIAUTH="${OCIAUTH_BIN:-target/release/ociauth}"
[[ -x "$OCIAUTH" ]] || die "$OCIAUTH is missing: cargo build --release -p ociauth-cli"
VENV="${OCIAUTH_INTEROP_VENV:-.interop/venv}"
OCI="$VENV/bin/oci"
[[ -x "$OCI" ]] || die "$OCI is missing: run scripts/test.sh once to create the venv"

apt_updated=0
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    [[ $(id -u) -eq 0 ]] || die "$1 is missing: apt-get install $2"
    if [[ $apt_updated -eq 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
}
need hyperfine hyperfine
[[ -x /usr/bin/time ]] || { need /usr/bin/time time; }

# The official CLI: no label/permission warnings, and the machine's preset CA bundle must not
# override --cert-bundle (testing-and-dependencies.md §1.3).
export SUPPRESS_LABEL_WARNING=True OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING=True
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

common=(os ns get --config-file "$CONFIG" --profile "$PROFILE" --endpoint "$ENDPOINT")
[[ -z "$CA" ]] || common+=(--cert-bundle "$CA")
ours=("$OCIAUTH" "${common[@]}")
theirs=("$OCI" "${common[@]}" --no-retry)

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ociauth: $("$OCIAUTH" --version 2>/dev/null || echo '?')"
echo "oci:     $("$OCI" --version 2>/dev/null || echo '?')"
echo

# Both must work and agree before anything is timed.
a="$("${ours[@]}")" || die "ociauth failed: ${ours[*]}"
b="$("${theirs[@]}")" || die "oci failed: ${theirs[*]}"
if [[ "$a" != "$b" ]]; then
    echo "note: outputs differ" >&2
    echo "  ociauth: $a" >&2
    echo "  oci:     $b" >&2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
q() { printf '%q ' "$@"; }
hyperfine --shell=none --warmup 2 --runs "$RUNS" --export-json "$tmp/h.json" \
    -n "ociauth os ns get" "$(q "${ours[@]}")" \
    -n "oci os ns get" "$(q "${theirs[@]}")"

# Peak RSS: median of 5 runs of `/usr/bin/time -v`, in MiB.
peak_rss() {
    local i
    for i in 1 2 3 4 5; do
        /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': *' '/Maximum resident set size/ { print $2 }'
    done | sort -n | sed -n 3p
}
rss_ours="$(peak_rss "${ours[@]}")"
rss_theirs="$(peak_rss "${theirs[@]}")"

read -r mean_ours sd_ours mean_theirs sd_theirs < <(python3 - "$tmp/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(r[0]["mean"], r[0]["stddev"], r[1]["mean"], r[1]["stddev"])
PY
)
echo
awk -v mo="$mean_ours" -v so="$sd_ours" -v mt="$mean_theirs" -v st="$sd_theirs" \
    -v ro="$rss_ours" -v rt="$rss_theirs" 'BEGIN {
    printf "| command | wall time (mean ± σ) | peak RSS (median of 5) |\n|---|---|---|\n"
    printf "| ociauth os ns get | %.1f ms ± %.1f | %.1f MiB |\n", mo * 1000, so * 1000, ro / 1024
    printf "| oci os ns get | %.1f ms ± %.1f | %.1f MiB |\n", mt * 1000, st * 1000, rt / 1024
    printf "\nratio oci / ociauth: wall time %.1fx, peak RSS %.1fx\n", mt / mo, rt / ro
}'
