#!/usr/bin/env bash
# System programs the test suite opens outputs with, as their users would: Chromium renders report.html and the
# MLflow UI, LibreOffice Calc opens the CSV and xlsx files, pdftoppm turns what they print into PNG pages, and
# PostgreSQL is the real server the data.source tests start and stop (tests/postgres_server.py).
# Idempotent: installs only what is missing, quietly, and says what it did. Without root or apt-get it only says
# what is missing (the tests that need a program then skip with the reason).
set -euo pipefail

declare -A WANT=([chromium]=chromium [soffice]=libreoffice-calc [pdftoppm]=poppler-utils)
missing=()
for program in "${!WANT[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${WANT[$program]}")
done
# Debian puts PostgreSQL's pg_ctl under /usr/lib/postgresql/<version>/bin, off PATH
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_system: not installing ${missing[*]} (needs root and apt-get); tests that open outputs in them skip" >&2
  exit 0
fi
echo "setup_system: installing ${missing[*]} with apt-get (first run only, a few minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -qq -o DPkg::Lock::Timeout=600 "$@" >/dev/null; }
if ! apt_get install -y --no-install-recommends "${missing[@]}" 2>/dev/null; then
  apt_get update
  apt_get install -y --no-install-recommends "${missing[@]}"
fi
# LibreOffice's converter needs a Calc filter and fonts to draw text; chromium brings its own fonts-liberation.
echo "setup_system: installed ${missing[*]}" >&2
