#!/usr/bin/env bash
# Debian's Chromium (and a font) for the browser tests: Playwright drives the system browser, so no
# browser is downloaded. Installs only what is missing; needs root or sudo when something is.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
    echo "chromium: $(chromium --version 2>/dev/null || echo present)"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install_chromium: need ${need[*]} but am not root and have no sudo; run: apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
chromium --version
