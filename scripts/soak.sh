#!/usr/bin/env bash
# Soak: N uploads of multi-GiB synthetic backups through `bak2rds serve` with faults injected
# (5xx errors, throttling answers, dropped connections, added latency, corrupted stored parts).
# Every upload must end with an object byte-for-byte equal to its file (checked by reading it
# back anonymously and comparing, and by the server's CRC-64), or stop with a clear error; a
# stopped upload is resumed with the same command, and the first run of each upload is SIGKILLed
# part-way so each one also resumes from its checkpoint. Prints retries and re-sent bytes per
# upload (counted over the runs that finished; a killed run reports nothing).
#
#   scripts/soak.sh                      # 5 × 2GiB, release binary (cargo build --release)
#   SOAK_N=3 SOAK_SIZE=2GiB scripts/soak.sh
#   SOAK_BIN=target/debug/bak2rds SOAK_SIZE=256MiB scripts/soak.sh   # quick rehearsal
#
# Knobs: SOAK_N, SOAK_SIZE, SOAK_BIN, SOAK_WORK (folder with room for N+1 × SIZE),
# SOAK_SEED (fault RNG), SOAK_ATTEMPTS (runs per upload before giving up, default 3),
# SOAK_KILL_AFTER (seconds before the first run of each upload is SIGKILLed; 0: never).
# Needs curl and cmp. Exit 0 when every object is exact, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${SOAK_N:-5}
size=${SOAK_SIZE:-2GiB}
bin=${SOAK_BIN:-target/release/bak2rds}
seed=${SOAK_SEED:-$RANDOM}
attempts=${SOAK_ATTEMPTS:-3}
kill_after=${SOAK_KILL_AFTER:-3}
work=${SOAK_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/bak2rds-soak.XXXXXX")}
mkdir -p "$work"

[[ -x $bin ]] || { echo "no binary at $bin: run cargo build --release (or set SOAK_BIN)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [[ -z ${SOAK_WORK:-} ]] && rm -rf "$work"
    return 0
}
trap cleanup EXIT

# Rates are per request; with 64 MiB parts a 2 GiB upload makes 32 UploadParts, so every
# upload meets several faults. GET and HEAD are spared: the check below uses them. The bucket allows anonymous reads so the check below reads the
# object back without signing.
cat >"$work/faults.toml" <<EOF
[[bucket]]
name = "bak2rds-soak"
allow_anonymous = true

[faults]
seed = $seed
latency_ms = 5

[[faults.error]]
operation = "UploadPart"
rate = 0.04
status = 503
code = "ServiceUnavailable"

[[faults.error]]
operation = "UploadPart"
rate = 0.03
status = 503
code = "SlowDown"

[[faults.error]]
operation = "CompleteMultipartUpload"
rate = 0.3
status = 500
code = "InternalError"

[[faults.error]]
operation = "InitiateMultipartUpload"
rate = 0.2
status = 503
code = "ServiceUnavailable"

[[faults.drop_connection]]
operation = "UploadPart"
rate = 0.03

[[faults.flip_byte]]
operation = "UploadPart"
rate = 0.02
EOF

"$bin" serve --data "$work/emulator" --config "$work/faults.toml" --fast-etag \
    >"$work/serve.json" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do [[ -s $work/serve.json ]] && break; sleep 0.1; done
line=$(head -n1 "$work/serve.json")
field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/" <<<"$line"; }
endpoint=$(field oss_endpoint)
bucket=$(field bucket)
export ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET
ALIBABA_CLOUD_ACCESS_KEY_ID=$(field access_key_id)
ALIBABA_CLOUD_ACCESS_KEY_SECRET=$(field access_key_secret)
unset ALIBABA_CLOUD_PROFILE ALIBABA_CLOUD_SECURITY_TOKEN

echo "soak: $n × $size, fault seed $seed, emulator $endpoint, work $work"
printf '%-4s %-10s %-5s %-8s %-8s %-12s %-12s %s\n' \
    "#" size runs secs retries sent_MiB resent_MiB verdict
failed=0
killed=0
now_ms() { echo $(($(date +%s%N) / 1000000)); }
total_start=$(now_ms)
for i in $(seq "$n"); do
    file="$work/soak-$i.bak"
    key="soak/soak-$i.bak"
    "$bin" synth "$file" --size "$size" --database "Soak$i" >/dev/null 2>"$work/synth-$i.err"
    start=$(now_ms)
    runs=0 ok=0 retries=0 sent=0 resent=0 error=
    while ((runs < attempts + 1)); do
        runs=$((runs + 1))
        "$bin" upload "$file" "oss://$bucket/$key" --oss-endpoint "$endpoint" --json \
            --part-size 64MiB --checkpoint-dir "$work/checkpoints" \
            >"$work/upload-$i-$runs.json" 2>"$work/upload-$i-$runs.err" &
        pid=$!
        # The first run is SIGKILLed part-way, so every upload also resumes from a checkpoint.
        if ((runs == 1 && kill_after > 0)); then
            sleep "$kill_after"
            if kill -KILL "$pid" 2>/dev/null; then
                wait "$pid" 2>/dev/null || true
                killed=$((killed + 1))
                continue
            fi
        fi
        if wait "$pid"; then
            ok=1
        else
            error=$(tail -n1 "$work/upload-$i-$runs.err")
            echo "  upload $i run $runs stopped: $error"
        fi
        # Counts of this run, from the final report or the last progress event.
        report=$(grep -E '"event":"done"' "$work/upload-$i-$runs.json" | tail -n1 || true)
        if [[ -n $report ]]; then
            num() { sed -E "s/.*\"$1\":([0-9]+).*/\1/" <<<"$report"; }
            retries=$((retries + $(num retries)))
            sent=$((sent + $(num transferred_bytes)))
            resent=$((resent + $(num resent_bytes)))
        fi
        ((ok)) && break
    done
    ms=$(($(now_ms) - start))
    verdict=FAILED
    if ((ok)); then
        # Read the object back without credentials and compare every byte; the server's
        # CRC-64 must match the client's report too.
        url="$endpoint/$bucket/$key"
        server_crc=$(curl -sfI "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-oss-hash-crc64ecma"{print $2}')
        report_crc=$(grep -E '"event":"done"' "$work/upload-$i-$runs.json" | tail -n1 |
            sed -E 's/.*"crc64":([0-9]+).*/\1/')
        if curl -sf "$url" | cmp -s - "$file" && [[ -n $server_crc && $server_crc == "$report_crc" ]]; then
            verdict="exact (crc64 $server_crc)"
        else
            verdict="MISMATCH (server crc64 ${server_crc:-none}, report ${report_crc:-none})"
            failed=1
        fi
    else
        failed=1
        verdict="FAILED after $runs runs: $error"
    fi
    printf '%-4s %-10s %-5s %-8s %-8s %-12s %-12s %s\n' "$i" "$size" "$runs" "$((ms / 1000))" \
        "$retries" "$((sent >> 20))" "$((resent >> 20))" "$verdict"
    rm -f "$file"
done
printf 'soak: %s uploads (%s killed part-way and resumed) in %s s; %s\n' "$n" "$killed" \
    "$((($(now_ms) - total_start) / 1000))" \
    "$([[ $failed == 0 ]] && echo 'every object exact' || echo 'FAILURES above')"
exit "$failed"
