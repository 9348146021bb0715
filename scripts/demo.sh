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
  # `|| true`: under `set -e`, wait returning 143 here would end the script before the rm.
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true; fi
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
    summary+=("$(printf '| %-51s | %-6s | %s |' "$name" "ok" "$(printf '%s' "$out" | tr -d '\n ' )")")
  else
    echo "FAILED (exit $status):"
    printf '%s\n' "$err" | grep -v -E '^20[0-9][0-9]-' | sed 's/^/    /' | head -n 20
    summary+=("$(printf '| %-51s | %-6s | %s |' "$name" "FAILED" "exit $status")")
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

# 6. Workload identity federation: an external JWT exchanged at the emulator's identity domain
# (its domain URL is the base URL). The issuer here is the domain's own client-credentials
# grant, standing in for any OIDC issuer (GitHub Actions, GitLab, Entra ID, Keycloak...): the app
# "demo-robot" gets a JWT for the audience https://cloud.oracle.com, and a trust maps it to the
# emulator's user. The app "demo-ci" is the confidential OAuth client that exchanges it.
# Session caches go to a temporary HOME, not yours.
export HOME="$work/home"
mkdir -p "$HOME"
printf '%s' "demo-ci-secret" >"$work/ci-secret"
printf '%s' "demo-robot-secret" >"$work/robot-secret"
chmod 600 "$work/ci-secret" "$work/robot-secret"
"$EMULATOR" add-oauth-app --state "$STATE" --name ci --client-id demo-ci \
  --client-secret-file "$work/ci-secret" >/dev/null
"$EMULATOR" add-oauth-app --state "$STATE" --name robot --client-id demo-robot \
  --client-secret-file "$work/robot-secret" >/dev/null
"$EMULATOR" add-trust --state "$STATE" --name demo-issuer \
  --issuer https://identity.oraclecloud.com/ --jwks-url "$URL/admin/v1/SigningCert/jwk" \
  --audience https://cloud.oracle.com --client-id demo-ci \
  --impersonate "sub eq demo-robot => emulator-user" >/dev/null
WIF_CONFIG="$work/wif-config"

echo "== workload identity federation: ociauth session exchange"
echo "\$ ociauth session exchange --domain-url $URL --client-id demo-ci --client-secret-file \$TMP/ci-secret --oidc-token-endpoint $URL/oauth2/v1/token --oidc-client-id demo-robot --oidc-client-secret-file \$TMP/robot-secret --oidc-resource https://cloud.oracle.com --profile-name wif --region us-ashburn-1 --config-location \$TMP/wif-config"
if "$OCIAUTH" session exchange --domain-url "$URL" --client-id demo-ci \
  --client-secret-file "$work/ci-secret" \
  --oidc-token-endpoint "$URL/oauth2/v1/token" --oidc-client-id demo-robot \
  --oidc-client-secret-file "$work/robot-secret" --oidc-resource https://cloud.oracle.com \
  --profile-name wif --region us-ashburn-1 --config-location "$WIF_CONFIG" \
  >"$work/exchange.out" 2>&1; then
  sed "s#$work#\$TMP#g" "$work/exchange.out" | sed 's/^/    /'
else
  echo "FAILED:"
  sed 's/^/    /' "$work/exchange.out"
fi
echo

run_method "WIF session profile (--auth security_token)" -- \
  "$OCIAUTH" os ns get --auth security_token --profile wif --config-file "$WIF_CONFIG" --endpoint "$URL"

# A WIF profile (the Terraform provider's key names): every command exchanges on demand, reusing
# the token cached in ~/.oci/sessions/ci until it nears its expiry.
{
  echo
  echo "[ci]"
  echo "token_exchange_domain_url=$URL"
  echo "token_exchange_client_id=demo-ci"
  echo "token_exchange_client_secret_file=$work/ci-secret"
  echo "workload_identity_token_source=oidc_client_credentials"
  echo "workload_identity_token_endpoint=$URL/oauth2/v1/token"
  echo "workload_identity_client_id=demo-robot"
  echo "workload_identity_client_secret_file=$work/robot-secret"
  echo "workload_identity_resource=https://cloud.oracle.com"
  echo "region=us-ashburn-1"
} >>"$WIF_CONFIG"
run_method "WIF on demand (--auth workload_identity_federation)" -- \
  "$OCIAUTH" os ns get --auth workload_identity_federation --profile ci --config-file "$WIF_CONFIG" --endpoint "$URL"

# ociauth exec: the command sees OCI_CLI_PROFILE=ci, OCI_CLI_AUTH=security_token and the config
# file; the token is renewed in the background for as long as the command runs.
run_method "WIF under ociauth exec (security_token)" -- \
  "$OCIAUTH" exec --profile ci --config-file "$WIF_CONFIG" -- "$OCIAUTH" os ns get --endpoint "$URL"

echo "== summary"
printf '| %-51s | %-6s | %s |\n' "method" "status" "result"
printf '|%s|%s|%s|\n' "-----------------------------------------------------" "--------" "------------------------"
for row in "${summary[@]}"; do
  echo "$row"
done
for row in "${summary[@]}"; do
  case "$row" in *FAILED*) exit 1 ;; esac
done
