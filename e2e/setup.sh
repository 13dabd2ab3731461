#!/usr/bin/env bash
# e2e/setup.sh — what the end-to-end suite needs besides npm packages:
# Debian's Chromium (the suite drives it with playwright-core, which brings
# no browser of its own). Installs it when missing and running as root on
# Debian/Ubuntu; otherwise says what to install and fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -eq 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; then
    echo "==> e2e: installing Debian's chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "ERROR: e2e needs Chromium at $chromium (Debian: apt-get install chromium; or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
[ -x "$chromium" ] || { echo "ERROR: chromium installed, but $chromium is missing" >&2; exit 1; }
