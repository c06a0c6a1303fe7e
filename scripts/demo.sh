#!/usr/bin/env bash
# One command: set up the environment, generate the synthetic demo data, train, score, print the outputs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec cxpredict demo --out "${1:-outputs/demo}"
