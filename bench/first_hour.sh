#!/bin/bash
# The figures of docs/first-hour.md: what `make demo` costs to set up, and the demo's wall time with
# each thread setting, alone and next to a second CPU-bound job.
#
#   bench/first_hour.sh setup REPO_OR_CLONE_URL [make-target]   # clone, time the set-up, size the venv
#   bench/first_hour.sh threads [steps] [repeats]               # demo wall time: threads 1 / all / auto
#
# `setup` clones into a temporary folder and times `make <target>` (default .venv/.demo, what
# `make demo` installs before its first step; .venv/.ok is `make setup`, the dev extra). `threads` runs
# `reasonrl train train.steps=STEPS` (default 10) from this checkout's .venv, each setting REPEATS
# times (default 2), once without and once with `python3 -c 'while True: pass'` running, and prints
# one line per run with the 1-minute load average at its start. Other work on the machine shows in
# that number: report it with the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

setup() {
    local src=$1 target=${2:-.venv/.demo} dir
    dir=$(mktemp -d)/clone
    git clone -q "$src" "$dir"
    local t0 load
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    make -C "$dir" --no-print-directory "$target" > "$dir.log" 2>&1
    printf 'setup %-12s %6.0f s  venv %5s MiB  %3d packages  (load average at start %s)\n' "$target" \
        "$(echo "$(date +%s.%N) - $t0" | bc)" "$(du -sm "$dir/.venv" | cut -f1)" \
        "$("$dir/.venv/bin/pip" list 2>/dev/null | tail -n +3 | wc -l)" "$load"
    rm -rf "$(dirname "$dir")"
}

one_run() {      # label, threads override ("" = the default), busy (0/1), steps
    local label=$1 thr=$2 busy=$3 steps=$4 out bp="" t0 load rc=0
    out=$(mktemp -d)
    if [ "$busy" = 1 ]; then python3 -c 'while True: pass' & bp=$!; sleep 1; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    "$here/.venv/bin/reasonrl" train $thr "train.steps=$steps" "out=$out/run" > "$out/log" 2>&1 || rc=$?
    [ -n "$bp" ] && kill "$bp"
    printf '%-10s %-5s busy=%s  %6.1f s  rc=%s  load average at start %s  %s\n' "$label" "${thr:-auto}" "$busy" \
        "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc" "$load" "$(grep -o '[0-9]* CPU threads ([^;]*' "$out/log" | head -1)"
    rm -rf "$out"
}

threads() {
    local steps=${1:-10} repeats=${2:-2} cores
    cores=$(nproc)
    for rep in $(seq "$repeats"); do
        for busy in 0 1; do
            one_run "run-$rep" "threads=$cores" "$busy" "$steps"
            one_run "run-$rep" "threads=1" "$busy" "$steps"
            one_run "run-$rep" "" "$busy" "$steps"
        done
    done
}

"$@"
