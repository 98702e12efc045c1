#!/usr/bin/env bash
# Set up (first run only) and start Smooch Desktop on its embedded sandbox server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/smooch-desktop --sandbox "$@"
