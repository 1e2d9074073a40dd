#!/usr/bin/env bash
# Compares bak2rds's uploader with Alibaba's official Python OSS tools, on the same file and
# against the same local emulator (`bak2rds serve --fast-etag`).
#
# Usage:
#   scripts/bench-sdk.sh [--size SIZE | --file PATH] [--work-dir DIR] [--json-out PATH]
#                        [--venv DIR] [--build] [--link SPEC] [--threads N]
#
#   --size SIZE      size of the synthetic backup to create (`bak2rds synth`); default 4GiB
#   --file PATH      upload this existing file instead (it is never modified or deleted)
#   --work-dir DIR   create the scratch folder (synthetic file, emulator data, logs) inside DIR;
#                    default: $TMPDIR or /tmp. The scratch folder is removed at exit, DIR is not.
#   --json-out PATH  also write the results as JSON to PATH
#   --venv DIR       Python venv for the SDKs (default: target/sdk-venv, made by
#                    scripts/sdk/setup-venv.sh, which reaches PyPI only the first time)
#   --build          run `cargo build --release` even if target/release/bak2rds exists
#   --link SPEC      put the emulator's link model in front of it, for every tool alike, e.g.
#                    rtt=250ms,rate=1Gbit/s,window=1MiB (see `bak2rds serve --link`)
#   --threads N      threads (parts in flight) of the SDKs' tuned runs; default 8 (32 on a long
#                    path is what a user who tuned them would try)
#   BAK2RDS_BIN=PATH use this bak2rds binary instead of target/release/bak2rds
#
# Runs, one after the other, each uploading the file to its own key and deleting it after:
#   bak2rds  `bak2rds bench` with its defaults (CRC-64 per part; part size from the file size,
#            parts in flight chosen by `--concurrency auto`)
#   oss2     oss2 2.19.1 `resumable_upload`: SDK defaults (10 MiB parts, num_threads 1), then
#            num_threads=N (--threads, 8) with 16 MiB parts; CRC-64 check on (the default)
#   v2       alibabacloud-oss-v2 1.4.1 `Uploader`: SDK defaults (6 MiB parts, parallel_num 3),
#            then parallel_num=N (--threads, 8) with 16 MiB parts; CRC-64 check on (the default)
#
# Measured for each run, inside the client process and around the upload alone (as
# `bak2rds bench` measures itself): part size x parts in flight, wall seconds, GiB/s (2^30
# bytes), client CPU (user+system, all threads) per GiB, peak anonymous RSS; and, from /proc, the
# emulator's CPU per GiB during the run. The JSON also holds whole-process wall/CPU from /usr/bin/time when it is installed.
# The emulator shares the machine's cores with the client, so on a small machine the server's
# cost limits everyone; compare the client CPU-s/GiB column for what a client costs by itself.
# The emulator's key pair reaches the clients through the environment only, never through
# process arguments. The last line of output is `bench-sdk: N runs`.
#
# Exit status: 0 all runs done, 1 a run or a step failed, 2 bad usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
helper="$here/sdk/bench_upload.py"

size="4GiB"
file=""
work_parent="${TMPDIR:-/tmp}"
json_out=""
venv=""
force_build=0
link=""
threads=8
size_given=0

die() {
    echo "bench-sdk: error: $*" >&2
    exit 1
}
usage_error() {
    echo "bench-sdk: $*" >&2
    echo "usage: scripts/bench-sdk.sh [--size SIZE | --file PATH] [--work-dir DIR]" \
        "[--json-out PATH] [--venv DIR] [--build] [--link SPEC] [--threads N]" >&2
    exit 2
}
note() { echo "bench-sdk: $*" >&2; }

while (($#)); do
    case "$1" in
        --size) [[ $# -ge 2 ]] || usage_error "--size needs a value"; size="$2"; size_given=1; shift 2 ;;
        --file) [[ $# -ge 2 ]] || usage_error "--file needs a value"; file="$2"; shift 2 ;;
        --work-dir) [[ $# -ge 2 ]] || usage_error "--work-dir needs a value"; work_parent="$2"; shift 2 ;;
        --json-out) [[ $# -ge 2 ]] || usage_error "--json-out needs a value"; json_out="$2"; shift 2 ;;
        --venv) [[ $# -ge 2 ]] || usage_error "--venv needs a value"; venv="$2"; shift 2 ;;
        --build) force_build=1; shift ;;
        --link) [[ $# -ge 2 ]] || usage_error "--link needs a value"; link="$2"; shift 2 ;;
        --threads) [[ $# -ge 2 ]] || usage_error "--threads needs a value"; threads="$2"; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done

[[ $size_given -eq 0 || -z "$file" ]] || usage_error "--size and --file exclude each other"
[[ "$threads" =~ ^[1-9][0-9]*$ && "$threads" -le 256 ]] || usage_error "--threads $threads: give a whole number from 1 to 256"
[[ -d "$work_parent" ]] || usage_error "--work-dir $work_parent: not a folder"
if [[ -n "$file" ]]; then
    [[ -f "$file" && -r "$file" ]] || usage_error "--file $file: not a readable file"
    file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
fi
if [[ -n "$json_out" ]]; then
    [[ -d "$(dirname "$json_out")" ]] || usage_error "--json-out $json_out: no such folder"
    json_out="$(cd "$(dirname "$json_out")" && pwd)/$(basename "$json_out")"
fi

# -- cleanup: the emulator, the scratch folder --------------------------------------------------

work=""
serve_pid=""
cleanup() {
    local status=$?
    if [[ -n "$serve_pid" ]] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$serve_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$serve_pid" 2>/dev/null; then
            note "the emulator (pid $serve_pid) ignored SIGTERM for 5 s; killing it"
            kill -KILL "$serve_pid" 2>/dev/null || true
        fi
        wait "$serve_pid" 2>/dev/null || true
    fi
    if [[ -n "$work" && -d "$work" ]]; then
        rm -rf -- "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- the binary ---------------------------------------------------------------------------------

if [[ -n "${BAK2RDS_BIN:-}" ]]; then
    bin="$BAK2RDS_BIN"
    [[ -x "$bin" ]] || die "BAK2RDS_BIN=$bin is not an executable file"
else
    bin="$root/target/release/bak2rds"
    if [[ $force_build -eq 1 || ! -x "$bin" ]]; then
        note "building the release binary (cargo build --release)"
        (cd "$root" && cargo build --release --bin bak2rds) >&2 || die "cargo build --release failed"
    fi
    [[ -x "$bin" ]] || die "$bin is missing after the build"
fi
bench_help="$("$bin" bench --help)" || die "$bin bench --help failed"
for flag in --file --oss-endpoint --bucket --region; do
    grep -q -- "$flag" <<<"$bench_help" || die "$bin bench has no $flag flag (binary too old?)"
done

# -- the SDK venv -------------------------------------------------------------------------------

if [[ -n "$venv" ]]; then
    python="$("$here/sdk/setup-venv.sh" "$venv" | tail -n 1)" || die "setting up the venv failed"
else
    python="$("$here/sdk/setup-venv.sh" | tail -n 1)" || die "setting up the venv failed"
fi
[[ -x "$python" ]] || die "scripts/sdk/setup-venv.sh did not print a python path (got: $python)"

# -- scratch folder and the file ----------------------------------------------------------------

work="$(mktemp -d "$work_parent/bak2rds-bench-sdk.XXXXXX")" || die "cannot create a folder in $work_parent"
run_id="$(basename "$work" | sed 's/.*\.//')"
if [[ -z "$file" ]]; then
    file="$work/bench.bak"
    note "writing a $size synthetic backup to $file"
    "$bin" --quiet synth "$file" --size "$size" >&2 || die "bak2rds synth --size $size failed"
fi
bytes="$(stat -c %s "$file")"
[[ "$bytes" -gt 0 ]] || die "$file is empty"
# Every run reads the file from the page cache: otherwise the first run alone pays the disk.
note "reading $file once so every run finds it in the page cache"
cat "$file" >/dev/null || die "cannot read $file"

# The emulator keeps each object until its run deletes it: it needs about one file's worth of
# space (plus its parts while the upload is in flight) unless it can discard bodies.
serve_args=(serve --fast-etag)
if [[ -n "$link" ]]; then
    serve_args+=(--link "$link")
    note "link model in front of the emulator: $link"
fi
if "$bin" serve --help | grep -q -- '--discard-bodies'; then
    serve_args+=(--discard-bodies)
else
    serve_args+=(--data "$work/emulator")
    avail=$(($(df -P -k "$work" | awk 'NR==2 {print $4}') * 1024))
    if ((avail < 2 * bytes)); then
        note "warning: $((avail >> 20)) MiB free in $work_parent, the emulator may need $((2 * bytes >> 20)) MiB"
    fi
fi

# -- the emulator -------------------------------------------------------------------------------

"$bin" "${serve_args[@]}" >"$work/serve.out" 2>"$work/serve.err" </dev/null &
serve_pid=$!
serve_json=""
for _ in $(seq 300); do
    if [[ -s "$work/serve.out" ]] && [[ "$(tail -c 1 "$work/serve.out" | od -An -c | tr -d ' ')" == '\n' ]]; then
        serve_json="$(head -n 1 "$work/serve.out")"
        break
    fi
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$serve_json" ]]; then
    sed 's/^/  emulator: /' "$work/serve.err" >&2 || true
    die "the emulator did not print its connection line within 30 s"
fi
field() {
    BAK2RDS_SERVE_JSON="$serve_json" "$python" -c \
        'import json, os, sys; print(json.loads(os.environ["BAK2RDS_SERVE_JSON"])[sys.argv[1]])' "$1"
}
endpoint="$(field oss_endpoint)" || die "the emulator's line is not the expected JSON"
region="$(field region)" || die "the emulator's line has no region"
bucket="$(field bucket)" || die "the emulator's line has no bucket"
# The key pair stays in shell variables and reaches the clients through their environment.
access_key_id="$(field access_key_id)" || die "the emulator's line has no access_key_id"
access_key_secret="$(field access_key_secret)" || die "the emulator's line has no access_key_secret"
note "emulator at $endpoint (bucket $bucket, region $region); file $file ($bytes bytes)"

# Credentials, profiles or endpoints from the caller's environment must not leak into the runs.
unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_SECURITY_TOKEN \
    ALIBABA_CLOUD_PROFILE ALIBABA_CLOUD_REGION_ID BAK2RDS_OSS_ENDPOINT OSS_ACCESS_KEY_ID \
    OSS_ACCESS_KEY_SECRET OSS_SESSION_TOKEN

clk_tck="$(getconf CLK_TCK)"
server_cpu() { # CPU seconds the emulator has used so far (utime + stime)
    local stat rest
    local -a f
    stat="$(<"/proc/$serve_pid/stat")" || return 1
    rest="${stat##*) }"
    read -r -a f <<<"$rest"
    echo "$(((f[11] + f[12])))"
}

timer=()
if [[ -x /usr/bin/time ]]; then
    timer=(/usr/bin/time -f '%e %U %S' -o "$work/process.time")
fi

results="$work/results.jsonl"
: >"$results"
runs=0

# run TOOL SETTINGS -- COMMAND...: runs one measured upload and appends its result line.
run() {
    local tool="$1" settings="$2"
    shift 3
    local raw="$work/run-$runs.json" before after
    note "run $((runs + 1)): $tool ($settings)"
    kill -0 "$serve_pid" 2>/dev/null || die "the emulator has stopped; see its log above"
    rm -f "$work/process.time"
    before="$(server_cpu)" || die "cannot read the emulator's CPU time"
    if ! "${timer[@]}" "$@" >"$raw" 2>"$work/run-$runs.err"; then
        sed 's/^/  /' "$work/run-$runs.err" >&2 || true
        die "run $((runs + 1)) ($tool, $settings) failed"
    fi
    after="$(server_cpu)" || die "cannot read the emulator's CPU time"
    "$python" "$helper" record --tool "$tool" --settings "$settings" --raw "$raw" \
        --server-cpu "$(awk -v a="$before" -v b="$after" -v t="$clk_tck" 'BEGIN {print (b - a) / t}')" \
        --process-time "$work/process.time" >>"$results" \
        || die "could not read the output of run $((runs + 1)); raw output in $raw"
    runs=$((runs + 1))
}

# The key pair is exported only while a run needs it: `env NAME=VALUE cmd` would put the
# secret into env's arguments, visible in ps.
run_ours() {
    export ALIBABA_CLOUD_ACCESS_KEY_ID="$access_key_id"
    export ALIBABA_CLOUD_ACCESS_KEY_SECRET="$access_key_secret"
    run bak2rds "bench defaults, CRC-64 on" -- \
        "$bin" --json --quiet bench --file "$file" --oss-endpoint "$endpoint" \
        --bucket "$bucket" --region "$region"
    unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET
}
run_sdk() { # run_sdk TOOL SETTINGS KEY [--part-size BYTES --threads N]
    local tool="$1" settings="$2" key="$3"
    shift 3
    export BAK2RDS_SERVE_JSON="$serve_json"
    run "$tool" "$settings" -- "$python" "$helper" upload --tool "$tool" \
        --file "$file" --key "$key" --scratch "$work" "$@"
    unset BAK2RDS_SERVE_JSON
}

mib16=$((16 << 20))
run_ours
run_sdk oss2 "resumable_upload defaults, CRC on" \
    "bench-sdk/$run_id/oss2-default.bak"
run_sdk oss2 "resumable_upload num_threads=$threads part_size=16MiB, CRC on" \
    "bench-sdk/$run_id/oss2-${threads}x16.bak" --threads "$threads" --part-size "$mib16"
run_sdk v2 "Uploader defaults, CRC on" \
    "bench-sdk/$run_id/v2-default.bak"
run_sdk v2 "Uploader parallel_num=$threads part_size=16MiB, CRC on" \
    "bench-sdk/$run_id/v2-${threads}x16.bak" --threads "$threads" --part-size "$mib16"

echo "bench-sdk: $(basename "$file"), $bytes bytes ($(awk -v b="$bytes" 'BEGIN {printf "%.2f", b / 2^30}') GiB), emulator bak2rds serve --fast-etag, $(nproc) CPUs"
report_args=(report --results "$results")
[[ -n "$json_out" ]] && report_args+=(--json-out "$json_out")
"$python" "$helper" "${report_args[@]}" || die "could not write the report"
[[ -n "$json_out" ]] && note "results written to $json_out"
echo "bench-sdk: $runs runs"
