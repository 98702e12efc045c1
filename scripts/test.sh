#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite:
#   0. ruff (lint and format) and mypy --strict on the package, its tests and benchmarks;
#   1. unit, API (real HTTP against the sandbox on a loopback port) and UI (pytest-qt,
#      offscreen) tests;
#   2. the end-to-end group: the real window under Xvfb with real key presses, and a real
#      Secret Service keychain (gnome-keyring inside a private D-Bus session).
# Extra arguments go to both pytest runs (e.g. -x, -k name).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export QT_QPA_PLATFORM=offscreen
status=0
echo "== lint, format and types (ruff, mypy --strict on package, tests, benchmarks) =="
.venv/bin/ruff check smooch_desktop tests benchmarks || status=1
.venv/bin/ruff format --check smooch_desktop tests benchmarks || status=1
.venv/bin/mypy --strict smooch_desktop || status=1
# Tests and benchmarks, just as strictly (mypy_path in pyproject.toml). mypy names each of
# these files after its base name (they are not packages), so the conftest.py of each
# sub-folder would clash with tests/conftest.py: those are checked one run each (the helpers
# they import are reported by the first run).
mapfile -t typed_scripts < <(find tests benchmarks -name '*.py' -not -path 'tests/*/conftest.py' | sort)
.venv/bin/mypy --strict "${typed_scripts[@]}" || status=1
for conftest in $(find tests -mindepth 2 -name conftest.py | sort); do
    .venv/bin/mypy --strict --follow-imports=silent "$conftest" || status=1
done
echo "== unit, API, sandbox, UI and packaging tests =="
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
echo "== end-to-end tests (Xvfb + gnome-keyring) =="
# A throw-away keyring directory: never the developer's real keychain, and a fresh login
# keyring (created unlocked with this password) on every run.
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
XDG_DATA_HOME="$keyring_home" dbus-run-session -- sh -c '
    printf "test-keyring-password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec .venv/bin/python -m pytest -q -p no:cacheprovider -m e2e "$@"
' sh "$@" || status=$?
exit "$status"
