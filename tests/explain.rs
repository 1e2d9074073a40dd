//! `bak2rds explain`: a task Description met elsewhere, explained the way `watch` explains it.

use std::io::Write as _;
use std::process::Stdio;

use crate::util::bin;

#[test]
fn explain_gives_the_cause_and_fix_of_either_wording() {
    for message in [
        "Backup set (SalesDb.bak) is a database differential backup; we only accept a full backup.",
        "BACKUP SET (SalesDb.bak) IS A DATABASE DIFFERENTIAL BACKUP, WE ONLY ACCEPT A FULL BACKUP",
    ] {
        let out = bin().args(["explain", message]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains(message), "the message verbatim: {text}");
        assert!(
            text.contains("differential backup") && text.contains("fix:"),
            "{text}"
        );
    }
}

#[test]
fn explain_reads_standard_input_and_answers_json() {
    let mut child = bin()
        .args(["explain", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Failed to verify Sales (2019).bak. The backup file may be corrupted\nor from a version newer than the destination RDS instance.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["recognised"], true);
    assert_eq!(json["cause"], "corrupt_or_newer");
    assert_eq!(json["restored"], false);
    assert!(json["fix"].as_str().unwrap().contains("upgrade"), "{json}");
    assert!(json["explanation"].as_str().is_some());
}

#[test]
fn explain_shows_an_unknown_message_verbatim_and_exits_1() {
    let message = "Something no guide documents (code 42).";
    let out = bin().args(["explain", message]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(message), "{text}");
    assert!(text.contains("not a message bak2rds knows"), "{text}");
    assert!(!text.contains("fix:"), "never mis-explained: {text}");
    let out = bin().args(["explain", message, "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["recognised"], false);
    assert_eq!(json["message"], message);
    assert!(json.get("cause").is_none());
}
