#!/usr/bin/env bash
# Install the OpenID provider used by the workload identity federation interop tests
# (tests/interop/idp: panva oidc-provider, pinned in package.json and package-lock.json).
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop/idp"
cd "$dir"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup-idp: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi

want="$(node -p 'require("./package.json").dependencies["oidc-provider"]')"
have="$(node -p 'try { require("./node_modules/oidc-provider/package.json").version } catch { "" }')"
if [ "$have" = "$want" ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    echo "setup-idp: oidc-provider $have already installed in $dir"
    exit 0
fi

if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
else
    npm install --no-audit --no-fund --loglevel=error
fi
echo "setup-idp: installed oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version') in $dir"
