#!/usr/bin/env bash
# Run pytest (with any arguments, e.g. test files) on every host of the matrix at once, one process
# per host: ComfyUI 0.3.75 (.venv + .comfyui) and 0.33.0 (.venv-0.33 + .comfyui-0.33). Host tests run
# on both; the modules marked host_independent are shared out between the two processes, each run once.
# Each host's full log goes to out/test/<host>.log; the output ends with one pytest summary line per
# host, and the exit status is non-zero when either run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
# name:venv:host folder:share of the host-independent modules (tests/conftest.py: "i/n").
# Half each: CI on 1 Dec 2026 ran 27:02 (0.3.75) and 30:19 (0.33.0) with this split; giving 0.3.75 two
# thirds made it the slower one (40:26 vs 33:37 on a loaded machine), since the real-encoder modules are
# the heaviest host-independent ones.
HOSTS=("0.3.75:.venv:.comfyui:0/2" "0.33.0:.venv-0.33:.comfyui-0.33:1/2")
mkdir -p out/test
start=$(date +%s)
pids=()
for host in "${HOSTS[@]}"; do
    IFS=: read -r name venv comfy shard <<<"$host"
    # Each process gets its own screenshot folder and pytest cache, so the two never write one file.
    # Host tests run on every host; each host-independent module on one (tests/conftest.py).
    # One intra-op thread per process unless the caller says otherwise: the hosts run side by side, and
    # torch's OpenMP threads oversubscribing the cores made small matmuls several times slower.
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
    SAFESTEER_COMFYUI="$PWD/$comfy" SAFESTEER_INDEPENDENT_SHARD="$shard" \
        "$venv/bin/pytest" -p no:cacheprovider --durations=25 "$@" >"out/test/$name.log" 2>&1 &
    pids+=($!)
    echo "ComfyUI $name: pytest started (pid $!, log out/test/$name.log)"
done
status=0
codes=()
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; code=$?
    codes+=("$code")
    [[ $code -ne 0 ]] && status=1
done
for i in "${!HOSTS[@]}"; do
    name=${HOSTS[$i]%%:*}
    if [[ ${codes[$i]} -ne 0 ]]; then
        echo "---------- ComfyUI $name: failures (full log out/test/$name.log) ----------"
        if grep -q 'short test summary info' "out/test/$name.log"; then
            sed -n '/short test summary info/,$p' "out/test/$name.log" | head -n 80
        else
            tail -n 20 "out/test/$name.log"
        fi
    fi
done
echo "both hosts finished in $(( $(date +%s) - start )) s"
for i in "${!HOSTS[@]}"; do
    name=${HOSTS[$i]%%:*}
    summary=$(grep -E '^=+ .*( passed| failed| error| no tests ran).* =+$' "out/test/$name.log" | tail -n 1)
    echo "ComfyUI $name: ${summary:-pytest exited with ${codes[$i]}: $(grep -v "^[[:space:]]*$" "out/test/$name.log" | tail -n 1)}"
done
exit $status
