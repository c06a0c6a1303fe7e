#!/usr/bin/env bash
# One command: set up the environment and run the whole test suite (extra arguments go to pytest).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec python -m pytest -n 2 --dist loadfile "$@"
