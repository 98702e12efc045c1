#!/usr/bin/env bash
# Run every benchmark, show each one's full output, then a summary table.
#
#   bash benchmarks/run_all.sh            # full runs (a few minutes)
#   bash benchmarks/run_all.sh --quick    # smoke-sized runs of the four that support it
#   bash benchmarks/run_all.sh --no-faults  # skip fault_run.py (the longest)
#
# Each benchmark measures its baseline in the same run and ends with one verdict line
# ("PASS: ..." / "FAIL: ..."); fault_run.py reports "ok: True/False" instead. Logs are
# kept in a temp dir (printed at the end). Exit status: 0 if every benchmark met its
# target, 1 otherwise.
set -u

cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-.venv/bin/python}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}

quick=0
faults=1
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-faults) faults=0 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/smooch-bench-logs.XXXXXX")
benches=(bench_startup.py bench_gui_stall.py bench_typing.py bench_avatars.py bench_outbox.py bench_preview.py bench_poll_budget.py bench_inbox_filter.py bench_idle.py)
[ -f benchmarks/bench_history.py ] && benches+=(bench_history.py)
[ "$faults" = 1 ] && [ "$quick" = 0 ] && [ -f benchmarks/fault_run.py ] && benches+=(fault_run.py)

declare -a rows
status=0
for bench in "${benches[@]}"; do
    args=()
    case "$bench" in
        bench_history.py|fault_run.py) ;;            # no --quick flag
        *) [ "$quick" = 1 ] && args+=(--quick) ;;
    esac
    if [ "$quick" = 1 ] && [ "$bench" = bench_history.py ]; then
        rows+=("$(printf '%-20s %5s %7s  %s' "$bench" "-" "-" "skipped (no quick mode)")")
        continue
    fi
    echo "=== $bench ${args[*]:-}"
    log="$logs/${bench%.py}.log"
    start=$(date +%s.%N)
    "$PY" "benchmarks/$bench" "${args[@]}" >"$log" 2>"$logs/${bench%.py}.stderr"
    rc=$?
    end=$(date +%s.%N)
    cat "$log"
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    line=$(grep -E '^(PASS|FAIL):' "$log" | tail -n 1)
    if [ -z "$line" ] && [ "$bench" = fault_run.py ]; then
        ok=$(awk -F': ' '$1 ~ /^ *ok$/ { print $2 }' "$log" | tail -n 1)
        line="ok: ${ok:-?} ($(grep -E '^ *(sent|duplicated|lost|failed_and_kept|misreported):' "$log" \
            | sed 's/^ *//' | paste -sd ',' | sed 's/,/, /g'))"
    fi
    [ -z "$line" ] && line="(no verdict line; see $logs/${bench%.py}.stderr)"
    [ "$rc" -ne 0 ] && status=1
    rows+=("$(printf '%-20s %5s %6ss  %s' "$bench" "$rc" "$secs" "$line")")
    echo
done

echo "=== Summary ($QT_QPA_PLATFORM, $(nproc) CPUs)"
printf '%-20s %5s %7s  %s\n' "benchmark" "exit" "time" "verdict"
for row in "${rows[@]}"; do
    echo "$row"
done
echo "logs: $logs"
exit "$status"
