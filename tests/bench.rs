//! `bak2rds bench` end to end on a small synthetic backup against the child emulator it starts:
//! one row per `--sweep` level with real figures, and the machine they were measured on.

/// Runs `bak2rds bench` with `args` and returns its stdout; panics with stderr if it fails.
fn bench(args: &[&str]) -> String {
    let work = tempfile::tempdir().expect("work dir");
    let output = crate::util::bin()
        .args(args)
        .args(["bench", "--size", "24MiB", "--sweep", "1,3", "--work-dir"])
        .arg(work.path())
        .output()
        .expect("run bak2rds bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    // The synthetic file and the emulator's scratch are gone when it ends.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn text_output_names_the_machine_then_one_row_per_level() {
    let stdout = bench(&["--quiet"]);
    let lines: Vec<&str> = stdout.lines().collect();
    let machine = lines
        .iter()
        .position(|line| line.starts_with("machine: "))
        .unwrap_or_else(|| panic!("no machine line:\n{stdout}"));
    assert!(lines[machine].contains("; CRC-64: "), "{}", lines[machine]);
    let rows: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("concurrency"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, level) in rows.iter().zip(["1", "3"]) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[1], level, "{row}");
        assert!(row.contains(" 0.02 GiB in "), "{row}");
        let gib_per_s: f64 = fields[fields.iter().position(|f| *f == "GiB/s").unwrap() - 1]
            .parse()
            .unwrap();
        assert!(gib_per_s > 0.0, "{row}");
    }
    assert!(
        stdout.find("machine: ") < stdout.find("concurrency"),
        "{stdout}"
    );
}

#[test]
fn json_output_carries_the_machine_and_every_run() {
    let stdout = bench(&["--json", "--quiet"]);
    // Progress events come one per line; the report is the document that follows them.
    let report = stdout
        .find("\n{\n")
        .map(|at| &stdout[at + 1..])
        .unwrap_or_else(|| panic!("no report document:\n{stdout}"));
    let document: serde_json::Value = serde_json::from_str(report).expect("one JSON document");
    let machine = &document["machine"];
    assert!(
        !machine["crc64_engine"].as_str().unwrap_or("").is_empty(),
        "{document}"
    );
    assert!(machine["cores"].as_u64().unwrap_or(0) >= 1, "{document}");
    let runs = document["runs"].as_array().expect("runs");
    let levels: Vec<u64> = runs
        .iter()
        .filter_map(|r| r["concurrency"].as_u64())
        .collect();
    assert_eq!(levels, [1, 3]);
    for run in runs {
        // 24 MiB of pages plus the backup's headers.
        assert!(run["bytes"].as_u64().unwrap_or(0) >= 24 << 20, "{run}");
        assert!(run["gib_per_second"].as_f64().unwrap_or(0.0) > 0.0, "{run}");
    }
}

/// Runs `bak2rds --json --quiet bench ARGS --work-dir TMP` and returns its report document;
/// panics with stderr if it fails.
fn bench_report(args: &[&str]) -> serde_json::Value {
    let work = tempfile::tempdir().expect("work dir");
    let output = crate::util::bin()
        .args(["--json", "--quiet", "bench"])
        .args(args)
        .arg("--work-dir")
        .arg(work.path())
        .output()
        .expect("run bak2rds bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Progress events come one per line; the report is the document that follows them.
    let report = stdout
        .find("\n{\n")
        .map(|at| &stdout[at + 1..])
        .unwrap_or_else(|| panic!("no report document:\n{stdout}"));
    serde_json::from_str(report).expect("one JSON document")
}

/// `--cold`: the disk is measured around the run and the upload is given as a share of it.
#[test]
fn a_cold_run_measures_the_disk_before_and_after_and_gives_the_share() {
    let document = bench_report(&["--size", "24MiB", "--cold"]);
    let disk = &document["runs"][0]["disk"];
    for field in [
        "before_gib_per_second",
        "after_gib_per_second",
        "upload_share",
    ] {
        let value = disk[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} in {disk}"));
        assert!(value > 0.0, "{field} in {disk}");
    }
}

/// `--link` and `--max-rate`: the shares of the link and of the cap, over the transfer (first
/// byte to Complete) and over the whole run, whose round trips before and after the parts make
/// it the lower.
#[test]
fn a_run_through_the_link_model_gives_its_shares_of_the_link_and_the_cap() {
    let document = bench_report(&[
        "--size",
        "24MiB",
        "--link",
        "rtt=40ms,rate=200Mbit/s,window=1MiB",
        "--max-rate",
        "100Mbit/s",
    ]);
    let run = &document["runs"][0];
    let share = |name: &str, field: &str| {
        run[name][field]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}.{field} in {run}"))
    };
    // Half the link is the cap: whatever share of the cap, half of it of the link.
    let (cap, link) = (
        share("cap_share", "transfer"),
        share("link_share", "transfer"),
    );
    assert!((link * 2.0 - cap).abs() < 0.01, "{run}");
    // A cap that holds: not above it by more than its burst, and the link model slows it.
    assert!(cap > 0.5 && cap < 1.06, "{run}");
    // HEAD on a new connection, Initiate, the parts' handshakes and the HEAD after Complete are
    // round trips outside the transfer.
    assert!(share("cap_share", "whole_run") < cap, "{run}");
}
