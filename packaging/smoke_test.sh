#!/usr/bin/env bash
# Smoke test of the built .deb: install it, drive the INSTALLED app on a virtual X server,
# and prove a typed reply reaches the sandbox server.
#
#   packaging/smoke_test.sh [--deb FILE] [--remove]
#
# Steps: apt-get install the .deb (pulls its Depends) -> check files, launcher, desktop
# entry, icons -> start Xvfb on a free display -> run /usr/bin/smooch-desktop --sandbox
# --sandbox-port <free> --user-id <demo user> -> wait for the window -> xdotool types a
# message + Return -> poll GET <base_url>/_sandbox/log for POST .../messages 201 with
# that text -> screenshot (artifacts/smoke.png) -> Ctrl+Q -> fail on a non-zero exit, a
# Traceback or Qt warnings in stderr. --remove uninstalls the package at the end.
#
# Needs root (or sudo), Xvfb, xdotool, curl, python3, imagemagick's "import".
# Environment: ARTIFACTS (default ./artifacts), SMOKE_USER_ID, SMOKE_TIMEOUT (s, default 30).
set -euo pipefail

start=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts}
TIMEOUT=${SMOKE_TIMEOUT:-30}
APP=/usr/bin/smooch-desktop
DESKTOP_ID=io.github.smoochdesktop.SmoochDesktop
WINDOW_NAME="Smooch Desktop"
deb=""
remove=0

while (($#)); do
    case $1 in
        --deb) deb=$2; shift ;;
        --remove) remove=1 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "smoke_test.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '== %s\n' "$*"; }
fail() {
    printf 'SMOKE TEST FAILED: %s\n' "$*" >&2
    printf 'wall time: %s s\n' "$(($(date +%s) - start))" >&2
    exit 1
}
for tool in Xvfb xdotool curl python3 import; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install xvfb xdotool curl python3 imagemagick)"
done
SUDO=""
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || fail "must run as root or with sudo available"
    SUDO=sudo
fi

if [[ -z $deb ]]; then
    # The newest .deb in dist/.
    deb=$(find "$ROOT/dist" -maxdepth 1 -name 'smooch-desktop_*.deb' -printf '%T@ %p\n' 2>/dev/null \
        | sort -rn | head -n1 | cut -d' ' -f2-)
fi
[[ -n $deb && -f $deb ]] || fail "no .deb found (run packaging/build_all.sh, or pass --deb FILE)"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
mkdir -p "$ARTIFACTS"
work=$(mktemp -d)
chmod 0700 "$work"
app_pid="" xvfb_pid=""

cleanup() {
    if [[ -n $app_pid ]]; then kill "$app_pid" 2>/dev/null || true; fi
    if [[ -n $xvfb_pid ]]; then kill "$xvfb_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- install --------------------------------------------------------------------------
log "install $(basename "$deb")"
# --reinstall makes a repeat run of the same version still exercise the maintainer scripts.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "$deb" \
    >"$ARTIFACTS/apt-install.log" 2>&1 || { tail -n 30 "$ARTIFACTS/apt-install.log" >&2; fail "apt-get install"; }

log "installed files"
[[ -x $APP ]] || fail "$APP missing or not executable"
[[ -x /opt/smooch-desktop/smooch-desktop ]] || fail "/opt/smooch-desktop/smooch-desktop missing"
[[ -f /usr/share/applications/$DESKTOP_ID.desktop ]] || fail "desktop entry not installed"
[[ -f /usr/share/metainfo/$DESKTOP_ID.metainfo.xml ]] || fail "metainfo not installed"
[[ -f /usr/share/icons/hicolor/scalable/apps/$DESKTOP_ID.svg ]] || fail "scalable icon not installed"
for size in 16 22 24 32 48 64 128 256 512; do
    [[ -f /usr/share/icons/hicolor/${size}x${size}/apps/$DESKTOP_ID.png ]] || fail "${size}px icon not installed"
done
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "/usr/share/applications/$DESKTOP_ID.desktop" || fail "installed desktop entry invalid"
fi
exec_cmd=$(sed -n 's/^Exec=//p' "/usr/share/applications/$DESKTOP_ID.desktop" | cut -d' ' -f1)
command -v "$exec_cmd" >/dev/null || fail "desktop entry Exec=$exec_cmd is not on PATH"
version=$("$APP" --version 2>&1) || fail "$APP --version: $version"
echo "   $version"

# --- virtual X server -----------------------------------------------------------------
display=""
for n in $(seq 90 140); do
    if [[ ! -e /tmp/.X$n-lock && ! -e /tmp/.X11-unix/X$n ]]; then display=:$n; break; fi
done
[[ -n $display ]] || fail "no free X display number in :90-:140"
log "Xvfb $display"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$ARTIFACTS/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 50); do
    DISPLAY=$display xdotool getdisplaygeometry >/dev/null 2>&1 && break
    kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb exited (see $ARTIFACTS/xvfb.log)"
    sleep 0.1
done
export DISPLAY=$display

# --- launch the installed app ---------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user_id=${SMOKE_USER_ID:-$(
    # The sandbox's demo user, read from the source tree when it is importable.
    cd "$ROOT" && python3 -c 'from smooch_desktop.sandbox.demo import DEMO_ALICE_ID as u; print(u)' 2>/dev/null \
        || echo "alice@example.com"
)}
text="Smoke test $(date +%s): hello from the installed package"
stdout_file=$ARTIFACTS/app-stdout.log
stderr_file=$ARTIFACTS/app-stderr.log

log "launch $APP --sandbox --sandbox-port $port --user-id $user_id"
# A private HOME/XDG tree: no settings, outbox or keychain of the machine's user is used;
# without a session bus the app must show its "no keychain" state, not fail.
mkdir -p "$work/home" "$work/runtime"
chmod 0700 "$work/runtime"
env -u DBUS_SESSION_BUS_ADDRESS HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" \
    XDG_DATA_HOME="$work/home/.local/share" XDG_CACHE_HOME="$work/home/.cache" \
    XDG_STATE_HOME="$work/home/.local/state" XDG_RUNTIME_DIR="$work/runtime" \
    QT_QPA_PLATFORM=xcb \
    "$APP" --sandbox --sandbox-port "$port" --user-id "$user_id" >"$stdout_file" 2>"$stderr_file" &
app_pid=$!

base_url=""
for _ in $(seq $((TIMEOUT * 10))); do
    base_url=$(sed -n 's/^base_url=//p' "$stdout_file" | head -n1)
    [[ -n $base_url ]] && break
    kill -0 "$app_pid" 2>/dev/null || { cat "$stderr_file" >&2; fail "the app exited during start-up"; }
    sleep 0.1
done
[[ -n $base_url ]] || { cat "$stderr_file" >&2; fail "no base_url= line on stdout within ${TIMEOUT}s"; }
[[ $base_url == "http://127.0.0.1:$port" ]] || fail "base_url=$base_url, expected port $port"
echo "   sandbox at $base_url"

# Qt appends the application display name to window titles ("<title> — Smooch Desktop").
window=""
for _ in $(seq $((TIMEOUT * 4))); do
    window=$(xdotool search --onlyvisible --name "$WINDOW_NAME" 2>/dev/null | head -n1 || true)
    [[ -n $window ]] && break
    kill -0 "$app_pid" 2>/dev/null || { cat "$stderr_file" >&2; fail "the app exited before showing a window"; }
    sleep 0.25
done
[[ -n $window ]] || { cat "$stderr_file" >&2; fail "no visible window named '$WINDOW_NAME' within ${TIMEOUT}s"; }
echo "   title: $(xdotool getwindowname "$window")"
echo "   window $window after $(($(date +%s) - start)) s"
if ! xdotool search --classname '^smooch-desktop$' | grep -qx "$window"; then
    echo "   note: WM_CLASS instance is not 'smooch-desktop' (StartupWMClass in the desktop entry)"
fi

# --- type and send --------------------------------------------------------------------
# No window manager on Xvfb: give the window input focus directly. --user-id put the
# keyboard focus in the composer; wait until the app has loaded that user's conversation.
xdotool windowfocus --sync "$window" 2>/dev/null || xdotool windowfocus "$window"
for _ in $(seq $((TIMEOUT * 4))); do
    curl -fsS "$base_url/_sandbox/log" 2>/dev/null | grep -q '"GET"' && break
    sleep 0.25
done
sleep 0.5
log "type: $text"
xdotool type --delay 25 "$text"
xdotool key Return

log "wait for POST .../messages 201 in $base_url/_sandbox/log"
found=""
deadline=$(($(date +%s) + TIMEOUT))
while (($(date +%s) < deadline)); do
    found=$(curl -fsS "$base_url/_sandbox/log" 2>/dev/null | SMOKE_TEXT=$text python3 -c '
import json, os, sys
text = os.environ["SMOKE_TEXT"]
for e in json.load(sys.stdin).get("entries", []):
    body = e.get("body")
    sent = body.get("text") if isinstance(body, dict) else None
    if e.get("method") == "POST" and str(e.get("path", "")).endswith("/messages") \
            and e.get("status") == 201 and sent == text:
        print(e["path"])
        break
' || true)
    [[ -n $found ]] && break
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.5
done
import -window root "$ARTIFACTS/smoke.png" || echo "   (screenshot failed)"
curl -fsS "$base_url/_sandbox/log" -o "$ARTIFACTS/sandbox-log.json" 2>/dev/null || true
if [[ -z $found ]]; then
    cat "$stderr_file" >&2
    fail "the typed message never reached the sandbox (see $ARTIFACTS/sandbox-log.json, smoke.png)"
fi
echo "   delivered: POST $found -> 201"

# --- quit -----------------------------------------------------------------------------
log "quit (Ctrl+Q)"
xdotool key ctrl+q || true
for _ in $(seq 100); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$app_pid" 2>/dev/null; then
    echo "   Ctrl+Q did not close the app within 10 s; sending SIGTERM"
    kill -TERM "$app_pid"
    for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$app_pid" 2>/dev/null && { kill -KILL "$app_pid"; fail "the app ignored SIGTERM"; }
fi
status=0
wait "$app_pid" || status=$?
app_pid=""
((status == 0)) || { cat "$stderr_file" >&2; fail "the app exited with status $status"; }

# --- stderr must be clean -------------------------------------------------------------
problems=$(grep -nE 'Traceback|QObject::|QThread:|QWidget::|QPainter::|QBasicTimer|qt\.qpa|Warning:' \
    "$stderr_file" || true)
if [[ -n $problems ]]; then
    printf '%s\n' "$problems" >&2
    fail "stderr has tracebacks or Qt warnings (full text: $stderr_file)"
fi

if ((remove)); then
    log "remove the package"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q smooch-desktop >>"$ARTIFACTS/apt-install.log" 2>&1 \
        || fail "apt-get remove"
    [[ ! -e $APP && ! -e /opt/smooch-desktop ]] || fail "files left after apt-get remove"
fi

echo "SMOKE TEST PASSED (screenshot: $ARTIFACTS/smoke.png)"
echo "wall time: $(($(date +%s) - start)) s"
