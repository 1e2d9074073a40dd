#!/usr/bin/env python3
"""Times one upload by an official OSS Python SDK, and formats scripts/bench-sdk.sh's results.

Used by scripts/bench-sdk.sh; runnable alone against any `bak2rds serve` emulator.

  bench_upload.py upload --tool oss2|v2 --file PATH --key KEY [--part-size BYTES]
                         [--threads N] [--scratch DIR]
      Uploads PATH with oss2.resumable_upload (--tool oss2) or the alibabacloud_oss_v2
      Uploader (--tool v2), CRC-64 checking on (both SDKs' default), then HEADs the object
      (size and CRC must match), deletes it, and prints one JSON record on stdout. Without
      --part-size/--threads the SDK's own defaults apply (oss2: 10 MiB parts, 1 thread;
      v2: 6 MiB parts, 3 in parallel). Time and CPU are measured inside the process around the
      upload call only (no interpreter start-up, imports, HEAD or DELETE), as `bak2rds bench`
      measures its own upload: wall clock, user+system CPU of all threads (os.times), and peak
      anonymous RSS (RssAnon from /proc/self/status, sampled every 20 ms).

  bench_upload.py record --tool NAME --settings TEXT --raw FILE [--server-cpu S]
                         [--process-time FILE]
      Turns one run's raw output (an `upload` record, or `bak2rds bench --json` output) into a
      result line (JSON) on stdout, adding the emulator's CPU seconds for the run and the
      whole-process figures from `/usr/bin/time -f '%e %U %S'` when given.

  bench_upload.py report --results FILE [--json-out PATH]
      Prints the table of the result lines in FILE and, with --json-out, writes them as JSON.

Connection values for `upload` come from the emulator's JSON line in the environment variable
BAK2RDS_SERVE_JSON (never from the command line: it holds the key secret).
"""

import argparse
import json
import os
import sys
import threading
import time

MIB = 1 << 20
GIB = 1 << 30


# -- measuring -------------------------------------------------------------------------------


def anonymous_rss():
    """RssAnon of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakSampler:
    """Samples RssAnon every `every` seconds in a thread and keeps the peak."""

    def __init__(self, every=0.02):
        self.every = every
        self.peak = anonymous_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, anonymous_rss())

    def finish(self):
        self._stop.set()
        self._thread.join()
        return max(self.peak, anonymous_rss())


def cpu_seconds():
    times = os.times()
    return times.user + times.system


# -- uploads ---------------------------------------------------------------------------------


def connection():
    raw = os.environ.get("BAK2RDS_SERVE_JSON")
    if not raw:
        sys.exit("bench_upload.py: set BAK2RDS_SERVE_JSON to the emulator's JSON line")
    info = json.loads(raw)
    missing = [k for k in ("oss_endpoint", "region", "bucket", "access_key_id",
                           "access_key_secret") if not info.get(k)]
    if missing:
        sys.exit(f"bench_upload.py: BAK2RDS_SERVE_JSON lacks {', '.join(missing)}")
    return info


def upload_oss2(info, path, key, part_size, threads, scratch):
    """oss2.resumable_upload, configured as scripts/sdk/oss_scenarios.py does (V4, path style)."""
    import oss2

    auth = oss2.AuthV4(info["access_key_id"], info["access_key_secret"])
    bucket = oss2.Bucket(auth, info["oss_endpoint"], info["bucket"], region=info["region"])
    if not bucket.enable_crc:
        raise RuntimeError("oss2 CRC checking is off")
    # The checkpoint record goes to the scratch folder, not ~/.py-oss-upload.
    store = oss2.ResumableStore(root=scratch)
    kwargs = {"store": store}
    if part_size:
        kwargs["part_size"] = part_size
    if threads:
        kwargs["num_threads"] = threads
    # What the SDK will use, for the record (resumable_upload's own rule).
    size = os.path.getsize(path)
    used_part = oss2.determine_part_size(size, preferred_size=part_size or oss2.defaults.part_size)
    used_threads = threads or oss2.defaults.multipart_num_threads

    def upload():
        result = oss2.resumable_upload(bucket, key, path, **kwargs)
        return result.crc

    def head():
        meta = bucket.head_object(key)
        return meta.content_length, meta.server_crc

    def delete():
        bucket.delete_object(key)

    return used_part, used_threads, upload, head, delete


def upload_v2(info, path, key, part_size, threads, scratch):
    """alibabacloud_oss_v2 Uploader, configured as scripts/sdk/oss_scenarios.py does (V4)."""
    import alibabacloud_oss_v2 as oss
    from alibabacloud_oss_v2 import defaults

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        info["access_key_id"], info["access_key_secret"]
    )
    cfg.region = info["region"]
    cfg.endpoint = info["oss_endpoint"]
    if getattr(cfg, "disable_upload_crc64_check", None):
        raise RuntimeError("alibabacloud_oss_v2 CRC checking is off")
    client = oss.Client(cfg)
    kwargs = {}
    if part_size:
        kwargs["part_size"] = part_size
    if threads:
        kwargs["parallel_num"] = threads
    uploader = client.uploader(**kwargs)
    used_part = part_size or defaults.DEFAULT_UPLOAD_PART_SIZE
    size = os.path.getsize(path)
    while size / used_part >= defaults.MAX_UPLOAD_PARTS:  # the Uploader's own rule
        used_part += part_size or defaults.DEFAULT_UPLOAD_PART_SIZE
    used_threads = threads or defaults.DEFAULT_UPLOAD_PARALLEL
    bucket = info["bucket"]

    def upload():
        result = uploader.upload_file(oss.PutObjectRequest(bucket=bucket, key=key), path)
        return int(result.hash_crc64) if result.hash_crc64 is not None else None

    def head():
        meta = client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))
        crc = int(meta.hash_crc64) if meta.hash_crc64 is not None else None
        return meta.content_length, crc

    def delete():
        client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key=key))

    return used_part, used_threads, upload, head, delete


def cmd_upload(args):
    info = connection()
    size = os.path.getsize(args.file)
    scratch = args.scratch or os.path.dirname(os.path.abspath(args.file))
    make = upload_oss2 if args.tool == "oss2" else upload_v2
    used_part, used_threads, upload, head, delete = make(
        info, args.file, args.key, args.part_size, args.threads, scratch
    )

    sampler = PeakSampler()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    crc = upload()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    peak = sampler.finish()

    try:
        length, server_crc = head()
        if length != size:
            raise RuntimeError(f"uploaded object has {length} bytes, the file {size}")
        if crc is not None and server_crc is not None and crc != server_crc:
            raise RuntimeError(f"CRC-64 of the upload {crc} != the object's {server_crc}")
    finally:
        delete()

    gib = size / GIB
    record = {
        "tool": args.tool,
        "bytes": size,
        "part_size": used_part,
        "concurrency": used_threads,
        "seconds": seconds,
        "gib_per_second": gib / seconds if seconds > 0 else None,
        "client_cpu_seconds": cpu,
        "client_cpu_seconds_per_gib": cpu / gib if gib > 0 else None,
        "peak_anonymous_rss_mib": peak / MIB,
        "crc64": crc,
    }
    json.dump(record, sys.stdout)
    sys.stdout.write("\n")


# -- results ---------------------------------------------------------------------------------


def read_process_time(path):
    """`/usr/bin/time -f '%e %U %S' -o PATH` output → (wall, cpu) or (None, None)."""
    if not path or not os.path.exists(path):
        return None, None
    with open(path) as file:
        lines = [line.split() for line in file if line.strip()]
    # The last line is the format's; earlier ones are notes such as "Command exited with ...".
    for fields in reversed(lines):
        try:
            wall, user, system = (float(x) for x in fields[:3])
            return wall, user + system
        except ValueError:
            continue
    return None, None


def last_document(text):
    """The last top-level JSON value in `text`. `bak2rds bench --json` writes progress events
    (one JSON object a line) before its result document, which spans several lines."""
    decoder = json.JSONDecoder()
    position, last = 0, None
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return last
        last, position = decoder.raw_decode(text, position)


def cmd_record(args):
    with open(args.raw) as file:
        raw = last_document(file.read())
    if not isinstance(raw, dict):
        sys.exit(f"bench_upload.py: no JSON result in {args.raw}")
    if "runs" in raw:  # `bak2rds bench --json`
        if len(raw["runs"]) != 1:
            sys.exit(f"bench_upload.py: expected one bench run in {args.raw}")
        run = raw["runs"][0]
        gib = run["bytes"] / GIB
        cpu_per_gib = run.get("cpu_seconds_per_gib")
        raw = {
            "bytes": run["bytes"],
            "part_size": run["part_size"],
            "concurrency": run["concurrency"],
            "seconds": run["seconds"],
            "gib_per_second": run["gib_per_second"],
            "client_cpu_seconds": cpu_per_gib * gib if cpu_per_gib is not None else None,
            "client_cpu_seconds_per_gib": cpu_per_gib,
            "peak_anonymous_rss_mib": run.get("peak_anonymous_rss_mib"),
            "retries": run.get("retries"),
        }
    gib = raw["bytes"] / GIB
    wall, process_cpu = read_process_time(args.process_time)
    record = {
        "tool": args.tool,
        "settings": args.settings,
        **{k: v for k, v in raw.items() if k != "tool"},
        "server_cpu_seconds": args.server_cpu,
        "server_cpu_seconds_per_gib": (
            args.server_cpu / gib if args.server_cpu is not None and gib > 0 else None
        ),
        # Whole client process, start-up and clean-up included (/usr/bin/time), if measured.
        "process_wall_seconds": wall,
        "process_cpu_seconds": process_cpu,
    }
    json.dump(record, sys.stdout)
    sys.stdout.write("\n")


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def parts(row):
    size, concurrency = row.get("part_size"), row.get("concurrency")
    if size is None or concurrency is None:
        return "n/a"
    size = f"{size / MIB:g} MiB" if size % MIB == 0 else f"{size} B"
    return f"{size} x {concurrency}"


def cmd_report(args):
    with open(args.results) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    header = ("tool", "settings", "parts x in flight", "seconds", "GiB/s", "client CPU-s/GiB",
              "server CPU-s/GiB", "peak anon RSS MiB")
    table = [header]
    for row in rows:
        table.append((
            row["tool"],
            row["settings"],
            parts(row),
            fmt(row.get("seconds"), ".2f"),
            fmt(row.get("gib_per_second"), ".3f"),
            fmt(row.get("client_cpu_seconds_per_gib"), ".3f"),
            fmt(row.get("server_cpu_seconds_per_gib"), ".3f"),
            fmt(row.get("peak_anonymous_rss_mib"), ".1f"),
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:])]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if args.json_out:
        document = {"file_bytes": rows[0]["bytes"] if rows else None, "runs": rows}
        with open(args.json_out, "w") as out:
            json.dump(document, out, indent=2)
            out.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upload", help="time one SDK upload (connection in BAK2RDS_SERVE_JSON)")
    up.add_argument("--tool", choices=("oss2", "v2"), required=True)
    up.add_argument("--file", required=True)
    up.add_argument("--key", required=True)
    up.add_argument("--part-size", type=int, default=None, help="bytes; default: the SDK's")
    up.add_argument("--threads", type=int, default=None, help="default: the SDK's")
    up.add_argument("--scratch", default=None, help="folder for the SDK's checkpoint record")
    up.set_defaults(func=cmd_upload)

    rec = sub.add_parser("record", help="normalize one run's raw output into a result line")
    rec.add_argument("--tool", required=True)
    rec.add_argument("--settings", required=True)
    rec.add_argument("--raw", required=True)
    rec.add_argument("--server-cpu", type=float, default=None)
    rec.add_argument("--process-time", default=None)
    rec.set_defaults(func=cmd_record)

    rep = sub.add_parser("report", help="print the table (and write JSON)")
    rep.add_argument("--results", required=True)
    rep.add_argument("--json-out", default=None)
    rep.set_defaults(func=cmd_report)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
