#!/usr/bin/env bash
# One command: set up the environment and run the whole test suite (extra arguments go to pytest).
set -euo pipefail
# chromium, libreoffice-calc, poppler-utils when absent; without them the tests that open outputs skip
"$(dirname "${BASH_SOURCE[0]}")/setup_system.sh" || echo "setup_system.sh failed; tests that need its programs skip" >&2
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec python -m pytest -n 2 --dist loadfile "$@"
