#!/usr/bin/env bash
# Installs the browser automation of tests/interop/tests/browser_login.rs: the npm package
# playwright-core (pinned in tests/interop/browser/package.json + package-lock.json) into
# tests/interop/browser/node_modules. It downloads no browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1,
# install scripts off): the test drives Debian's Chromium, which scripts/test.sh installs.
#
#   scripts/setup-browser.sh
#
# A second run with an unchanged package-lock.json does nothing. Needs node >= 20 and npm.
# Environment: OCIAUTH_CHROMIUM (default /usr/bin/chromium) is checked to exist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=tests/interop/browser
CHROMIUM="${OCIAUTH_CHROMIUM:-/usr/bin/chromium}"

die() {
    printf 'scripts/setup-browser.sh: %s\n' "$*" >&2
    exit 1
}

command -v node >/dev/null || die "node is missing (install Node.js >= 20)"
command -v npm >/dev/null || die "npm is missing"
[[ -x "$CHROMIUM" ]] || die "no Chromium at $CHROMIUM: apt-get install -y chromium (scripts/test.sh does it)"

stamp="$DIR/node_modules/.ociauth-package-lock.sha256"
want="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    printf 'playwright-core already installed in %s/node_modules\n' "$DIR"
else
    (cd "$DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    printf '%s\n' "$want" >"$stamp"
fi
# The package must load (a broken install fails here, not in the middle of the tests).
(cd "$DIR" && node -e "import('playwright-core').then(m => { if (!m.chromium) process.exit(1) })") ||
    die "playwright-core does not load from $DIR/node_modules; delete that folder and run again"
