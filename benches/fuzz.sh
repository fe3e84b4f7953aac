#!/usr/bin/env bash
# Fuzz every importer and the stages after it for a fixed time each, then print one table row
# per target: executions, executions per second, corpus size, crashes found, committed
# regressions that still crash, wall time.
#
# The contract under test: no input, however malformed, makes the importers or the later
# stages panic (an unreadable file is an ImportError naming the file and line or offset; a
# writer may refuse with an error). A crash is any panic, overflow (the fuzz crate builds with
# overflow checks and debug assertions on), allocation over the memory limit (2 GB), or input
# that runs longer than the timeout (20 s).
#
#   benches/fuzz.sh                          every target, 60 s each
#   FUZZ_SECONDS=600 benches/fuzz.sh         longer
#   benches/fuzz.sh folded pprof             some targets only
#
# Targets (fuzz/fuzz_targets/): folded, speedscope, pprof (each `import::*::parse`),
# profile_json (`Profile::from_json`), pipeline (detect, parse, analyze, advise, every report
# writer, merge, and each export read back in).
#
# Needs: rustup with a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`); libFuzzer is built from source by libfuzzer-sys, so a
# C++ compiler too. The first build compiles the whole dependency tree with sanitizer coverage
# (about 8 minutes on two cores); later runs reuse it.
#
# Environment:
#   FUZZ_SECONDS    time per target (default 60)
#   FUZZ_SANITIZER  cargo-fuzz --sanitizer: address (default; also catches single allocations
#                   over the memory limit), or none (faster, and a separate build: the crate
#                   forbids unsafe code, so panics are most of what is looked for)
#
# Files: seeds are fuzz/seeds/TARGET (committed, small valid inputs) and dictionaries of each
# format's tokens fuzz/dict/*.dict; what the fuzzer grows is kept in fuzz/corpus/TARGET and
# crashing inputs in fuzz/artifacts/TARGET (both ignored by git). A crash worth keeping goes,
# minimized (`cargo +nightly fuzz tmin TARGET FILE`), into fuzz/regressions/TARGET: each run
# replays those first, and one that still crashes counts in the `regressions` column (and in
# the exit status). Replay one by hand with `cargo +nightly fuzz run TARGET FILE`.
#
# Exit status: 0 when no target crashed, 1 when any did, 2 when a build failed.

set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
all_targets=(folded speedscope pprof profile_json pipeline)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# The largest input each target is given: real collapsed-stack and speedscope files are larger,
# but what breaks a parser shows in a few kilobytes, and shorter inputs run faster.
max_len() {
    case $1 in
        pprof) echo 16384 ;;
        pipeline) echo 32768 ;;
        *) echo 65536 ;;
    esac
}

# Tokens of each format (fuzz/dict/), which random mutation would take long to spell.
dict_of() {
    case $1 in
        folded) echo fuzz/dict/folded.dict ;;
        speedscope | profile_json) echo fuzz/dict/json.dict ;;
        pprof) echo fuzz/dict/pprof.dict ;;
        pipeline) cat fuzz/dict/*.dict >"$logs/pipeline.dict" && echo "$logs/pipeline.dict" ;;
    esac
}

for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
        echo "fuzz.sh: no target $t (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs cargo-fuzz on a nightly toolchain:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz --locked" >&2
    exit 2
fi

echo "building ${targets[*]} (sanitizer: $sanitizer)..." >&2
build_start=$(date +%s)
for t in "${targets[@]}"; do
    if ! cargo +nightly fuzz build --sanitizer "$sanitizer" "$t"; then
        echo "fuzz.sh: building $t failed" >&2
        exit 2
    fi
done
echo "built in $(($(date +%s) - build_start)) s" >&2

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
rows=()
crashed=0
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    artifacts=fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    log=$logs/$t.log
    failing=0
    for input in fuzz/regressions/"$t"/*; do
        [ -f "$input" ] || continue
        if ! cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$input" >"$logs/replay.log" 2>&1; then
            failing=$((failing + 1))
            echo "== $t: $input still crashes:" >&2
            grep -E -m 1 -A 1 "panicked at|ERROR: libFuzzer" "$logs/replay.log" >&2
        fi
    done
    [ "$failing" -gt 0 ] && crashed=1
    # What the replays left in artifacts is theirs; only files new after this are the run's.
    before=$(find "$artifacts" -type f | sort)
    echo "fuzzing $t for $seconds s..." >&2
    start=$(date +%s)
    # The grown corpus comes first: libFuzzer writes new inputs to the first directory, and
    # the seeds stay as committed.
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" \
        -max_len="$(max_len "$t")" \
        -dict="$(dict_of "$t")" \
        -rss_limit_mb=2048 \
        -timeout=20 \
        -print_final_stats=1 \
        >"$log" 2>&1
    status=$?
    took=$(($(date +%s) - start))
    # libFuzzer's last words: `stat::number_of_executed_units: N`, `stat::average_exec_per_sec:
    # N`, and `#N DONE cov: .. corp: UNITS/SIZE ..` when it ran to its time limit.
    execs=$(grep -o 'stat::number_of_executed_units:[[:space:]]*[0-9]*' "$log" | awk '{print $NF}' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec:[[:space:]]*[0-9]*' "$log" | awk '{print $NF}' | tail -1)
    execs=${execs:-0} rate=${rate:-0}
    if [ "$execs" -eq 0 ]; then
        execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
        execs=${execs:-0}
    fi
    # libFuzzer's corpus (`corp: UNITS/SIZE` on its last status line): the directory holds
    # more files, inputs it has since replaced with smaller ones.
    units=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
    units=${units:-$(find "$corpus" -type f | wc -l)}
    new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | grep -v '^$')
    found=$(echo -n "$new" | grep -c '' || true)
    if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
        # A failure that left no artifact (the harness itself, or cargo): count it, and show it.
        found=1
        new="(no artifact; exit status $status)"
    fi
    rows+=("$(printf '%-13s %12s %9s %12s %8s %12s %7s' "$t" "$execs" "$rate" "$units" "$found" "$failing" "$took")")
    if [ "$found" -gt 0 ]; then
        crashed=1
        echo "== $t crashed: $new" >&2
        grep -E -m 20 -A 3 "panicked at|ERROR: libFuzzer|SUMMARY:|Test unit written" "$log" >&2
        cp "$log" "$artifacts/last-run.log" 2>/dev/null || true
    fi
done

printf '\n%-13s %12s %9s %12s %8s %12s %7s\n' target executions "exec/s" corpus crashes regressions "wall s"
printf '%s\n' "${rows[@]}"
printf '\n%s s per target, sanitizer %s; %s\n' "$seconds" "$sanitizer" \
    "$(cargo +nightly fuzz --version 2>/dev/null), $(rustc +nightly --version)"
exit "$crashed"
