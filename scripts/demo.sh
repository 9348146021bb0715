#!/usr/bin/env bash
# The demo: start a local OCI (oci-emulator) on a temporary state directory and run Object
# Storage's "get namespace" (GET /n) through `ociauth` once per authentication method, showing
# what was signed and what came back. Everything runs on 127.0.0.1 and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "building ociauth and oci-emulator (release)..." >&2
cargo build --release --quiet -p ociauth-cli -p oci-emulator
BIN="$PWD/target/release"
OCIAUTH="$BIN/ociauth"
EMULATOR="$BIN/oci-emulator"

work="$(mktemp -d)"
emu_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

STATE="$work/state"
"$EMULATOR" serve --state "$STATE" --port 0 --oke-port 0 2>"$work/emulator.log" &
emu_pid=$!
URL=""
for _ in $(seq 1 100); do
  URL="$(sed -n 's/^oci-emulator listening on //p' "$work/emulator.log" | head -n 1)"
  [ -n "$URL" ] && break
  sleep 0.1
done
if [ -z "$URL" ]; then
  echo "the emulator did not start:" >&2
  cat "$work/emulator.log" >&2
  exit 1
fi
export SUPPRESS_LABEL_WARNING=True
CONFIG="$STATE/config"

echo
echo "oci-emulator is serving a local OCI at $URL (state: $STATE)"
echo

summary=()

# run_method NAME -- COMMAND...: run an `ociauth os ns get` with --debug, print the signed
# headers, the key id (tokens cut short) and the result. Variables named in SHOW_ENV are shown
# in front of the command.
run_method() {
  local name="$1"
  shift 2
  echo "== $name"
  local shown="" v
  for v in ${SHOW_ENV:-}; do shown+="$v=${!v} "; done
  echo "\$ ${shown}ociauth ${*:2}" | sed "s#$work#\$TMP#g"
  local out err status=0
  out="$("$@" --debug 2>"$work/stderr")" || status=$?
  err="$(cat "$work/stderr")"
  local headers key_id
  headers="$(printf '%s\n' "$err" | sed -n 's/.*headers=\\\?"\([^"\\]*\)\\\?".*/\1/p' | head -n 1)"
  key_id="$(printf '%s\n' "$err" | sed -n 's/.* key_id=\([^ ]*\).*/\1/p' | head -n 1)"
  echo "signing string:"
  printf '%s\n' "$err" | awk '/signing_string=/{sub(/.*signing_string=/, ""); p=1} p&&/^(20[0-9][0-9]-|ServiceError|ERROR)/&&!/signing_string/{exit} p{print "    " $0}' | head -n 8
  echo "keyId:  ${key_id:-?}"
  if [ "$status" -eq 0 ]; then
    echo "result: $(printf '%s' "$out" | tr -d '\n' | tr -s ' ')"
    summary+=("$(printf '| %-34s | %-6s | %s |' "$name" "ok" "$(printf '%s' "$out" | tr -d '\n ' )")")
  else
    echo "FAILED (exit $status):"
    printf '%s\n' "$err" | grep -v -E '^20[0-9][0-9]-' | sed 's/^/    /' | head -n 20
    summary+=("$(printf '| %-34s | %-6s | %s |' "$name" "FAILED" "exit $status")")
  fi
  echo
}

# 1. API key: the profile the emulator wrote for its first user.
run_method "API key (--auth api_key)" -- \
  "$OCIAUTH" os ns get --config-file "$CONFIG" --endpoint "$URL"

# 2. Session token: a session made from that API key (GenerateUpst, as
#    `oci session authenticate --no-browser`), then used with --auth security_token.
SESSIONS="$work/sessions"
"$OCIAUTH" session authenticate --no-browser --profile-name demo-session --region us-ashburn-1 \
  --config-location "$work/session-config" --token-location "$SESSIONS" \
  --config-file "$CONFIG" --endpoint "$URL" >/dev/null
run_method "session token (security_token)" -- \
  "$OCIAUTH" os ns get --auth security_token --profile demo-session \
  --config-file "$work/session-config" --endpoint "$URL"
# 3. Instance principal: the emulator plays the instance metadata service (OCI_METADATA_BASE_URL)
#    and the Auth service's federation endpoint. No config file: the instance is the identity.
OCI_METADATA_BASE_URL="$URL/opc/v2" SHOW_ENV="OCI_METADATA_BASE_URL" \
run_method "instance principal" -- \
  "$OCIAUTH" os ns get --auth instance_principal --federation-endpoint "$URL/v1/x509" \
  --endpoint "$URL"

# 4. Resource principal 2.2: the token and key a platform (OCI Functions...) would inject, minted
#    by the emulator for a registered resource (`oci-emulator mint-rpst` prints the exports).
rp22_row() {
  local OCI_RESOURCE_PRINCIPAL_VERSION OCI_RESOURCE_PRINCIPAL_RPST \
    OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM OCI_RESOURCE_PRINCIPAL_REGION
  "$EMULATOR" add-resource --state "$STATE" --name demo-fn >/dev/null
  eval "$("$EMULATOR" mint-rpst --state "$STATE" --resource demo-fn --out "$work/rp22")"
  SHOW_ENV="OCI_RESOURCE_PRINCIPAL_VERSION OCI_RESOURCE_PRINCIPAL_RPST OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM OCI_RESOURCE_PRINCIPAL_REGION" \
  run_method "resource principal 2.2" -- \
    "$OCIAUTH" os ns get --auth resource_principal --endpoint "$URL"
}
rp22_row

# 5. OKE workload identity: a pod's service-account token (minted for a registered cluster)
#    exchanged at the emulator's TLS proxymux, trusted through the cluster CA. The SDKs' port is
#    12250; OCIAUTH_OKE_PROXYMUX_PORT points ociauth at the emulator's.
oke_port="$(sed -n 's#^  OKE proxymux on https://[^:]*:\([0-9]*\).*#\1#p' "$work/emulator.log" | head -n 1)"
"$EMULATOR" add-oke-cluster --state "$STATE" --name demo-cluster >/dev/null
"$EMULATOR" mint-sa-token --state "$STATE" --cluster demo-cluster --namespace apps \
  --service-account demo --out "$work/sa-token" >/dev/null
KUBERNETES_SERVICE_HOST=127.0.0.1 OCIAUTH_OKE_PROXYMUX_PORT="$oke_port" \
OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH="$STATE/oke/ca.pem" \
OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH="$work/sa-token" OCI_RESOURCE_PRINCIPAL_REGION=us-ashburn-1 \
SHOW_ENV="KUBERNETES_SERVICE_HOST OCIAUTH_OKE_PROXYMUX_PORT OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH OCI_KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH OCI_RESOURCE_PRINCIPAL_REGION" \
run_method "OKE workload identity" -- \
  "$OCIAUTH" os ns get --auth oke_workload_identity --endpoint "$URL"

echo "== summary"
printf '| %-34s | %-6s | %s |\n' "method" "status" "result"
printf '|%s|%s|%s|\n' "------------------------------------" "--------" "------------------------"
for row in "${summary[@]}"; do
  echo "$row"
done
for row in "${summary[@]}"; do
  case "$row" in *FAILED*) exit 1 ;; esac
done
