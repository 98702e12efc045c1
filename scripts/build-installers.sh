#!/usr/bin/env bash
# Set up (first run only) and build the installers: the PyInstaller bundle and the .deb
# (dist/). Windows (Inno Setup) and macOS (.app) builds: see packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --package
exec bash packaging/build_all.sh "$@"
