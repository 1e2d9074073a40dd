//! One entry point per fuzz target, shared by `fuzz/fuzz_targets/*` (libFuzzer, nightly) and the
//! corpus replay of `tests/fuzz_corpus.rs` (stable, every `cargo test`), so both drive exactly
//! the same code. Each takes arbitrary bytes, feeds them to the library's real parsers and
//! ignores their `Err`s; it panics only when an invariant breaks, which is the finding
//! (DESIGN habit 13). The first byte usually picks the parser, so one corpus covers them all.
//!
//! Not a stable API: hidden from the docs, kept `pub` only because the fuzz crate is another
//! crate. Must not: hold logic of its own beyond splitting the input and checking invariants.
//!
//! This crate's targets: the clients' answer parsers (`oss_xml`, `rds_json`).

use base64::Engine as _;

use crate::oss::xml as oss_xml_types;
use crate::rds::{model, sign as rds_sign};

/// Every OSS XML answer the client reads (`oss::xml`), chosen by the first byte, followed by
/// what the client does with it (key decoding, CRC parsing). Invariant: nothing with a DOCTYPE
/// is ever accepted.
pub fn oss_xml(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The client checks every 2xx answer for an `<Error>` root before reading it.
    let _ = oss_xml_types::is_error_document(rest);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let accepted = match selector % 7 {
        0 => oss_xml_types::parse::<oss_xml_types::InitiateMultipartUploadResult>(text).is_ok(),
        1 => complete_result(text),
        2 => list_parts(text),
        3 => list_uploads(text),
        4 => oss_xml_types::parse::<oss_xml_types::BucketInfoResult>(text).is_ok(),
        5 => oss_xml_types::parse::<oss_xml_types::ErrorResult>(text).is_ok(),
        // HEAD errors: the error XML base64-encoded in `x-oss-err`.
        _ => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap_or_default();
            let inner = String::from_utf8_lossy(&decoded);
            let accepted = oss_xml_types::parse::<oss_xml_types::ErrorResult>(&inner).is_ok();
            assert!(!(accepted && oss_xml_types::has_doctype(&inner)));
            false
        }
    };
    assert!(
        !(accepted && oss_xml_types::has_doctype(text)),
        "a DOCTYPE body was accepted"
    );
}

fn complete_result(text: &str) -> bool {
    let Ok(result) = oss_xml_types::parse::<oss_xml_types::CompleteMultipartUploadResult>(text)
    else {
        return false;
    };
    let _ = oss_xml_types::decode_key(&result.key, result.encoding_type.as_deref());
    true
}

fn list_parts(text: &str) -> bool {
    let Ok(page) = oss_xml_types::parse::<oss_xml_types::ListPartsResult>(text) else {
        return false;
    };
    for part in &page.parts {
        let _ = part
            .hash_crc64ecma
            .as_deref()
            .map(|c| c.trim().parse::<u64>());
    }
    let _ = page
        .next_part_number_marker
        .as_deref()
        .map(|m| m.trim().parse::<u32>());
    true
}

fn list_uploads(text: &str) -> bool {
    let Ok(page) = oss_xml_types::parse::<oss_xml_types::ListMultipartUploadsResult>(text) else {
        return false;
    };
    for upload in &page.uploads {
        let _ = oss_xml_types::decode_key(&upload.key, page.encoding_type.as_deref());
    }
    true
}

/// Every RDS JSON answer the client decodes (`rds::model`, the error body), the typed readings
/// it then makes, and the aliyun CLI profile file, chosen by the first byte.
pub fn rds_json(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        serde_json::from_slice(bytes).ok()
    }
    match selector % 12 {
        0 => drop(decode::<model::CreateMigrateTaskResponse>(rest)),
        1 => drop(decode::<model::RequestIdOnly>(rest)),
        2 => {
            for task in decode::<model::DescribeMigrateTasksResponse>(rest)
                .map(|r| r.items.migrate_task)
                .unwrap_or_default()
            {
                let _ = (task.status.is_terminal(), task.status.as_str());
                let _ = crate::rds::diagnose::diagnose(&task.description);
            }
        }
        3 => {
            if let Some(task) = decode::<model::DescribeMigrateTaskByIdResponse>(rest) {
                let _ = (task.status.is_terminal(), task.status.as_str());
                let _ = crate::rds::diagnose::diagnose(&task.description);
            }
        }
        4 => {
            for file in decode::<model::DescribeOssDownloadsResponse>(rest)
                .map(|r| r.items.oss_download)
                .unwrap_or_default()
            {
                let _ = file.file_size_mb();
            }
        }
        5 => {
            for attribute in decode::<model::DescribeDbInstanceAttributeResponse>(rest)
                .map(|r| r.items.db_instance_attribute)
                .unwrap_or_default()
            {
                let _ = attribute.disk_used_bytes();
            }
        }
        6 => drop(decode::<model::DescribeDatabasesResponse>(rest)),
        7 => {
            for account in decode::<model::DescribeAccountsResponse>(rest)
                .map(|r| r.accounts.db_instance_account)
                .unwrap_or_default()
            {
                let _ = account.is_privileged_and_available();
            }
        }
        8 => {
            if let Some(usage) = decode::<model::DescribeResourceUsageResponse>(rest) {
                let _ = usage.disk_used_bytes();
            }
        }
        // The client falls back to an empty error body when this one is unreadable.
        9 => drop(serde_json::from_slice::<model::ErrorBody>(rest).unwrap_or_default()),
        10 => aliyun_profile(rest),
        _ => {
            let text = String::from_utf8_lossy(rest);
            let _ = model::RestoreSource::parse_object_position(&text);
            let _ = rds_sign::parse_timestamp(&text);
        }
    }
}

/// `~/.aliyun/config.json`. Invariant: a profile that loads never shows its secrets in `Debug`
/// or in its description.
fn aliyun_profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(source) = crate::credentials::source_from_cli_config(text, None) else {
        return;
    };
    let shown = format!("{source:?} {}", source.describe());
    let mut keys = Vec::new();
    let mut next = Some(&source);
    while let Some(current) = next {
        next = None;
        match &current.kind {
            crate::credentials::SourceKind::Fixed(credentials) => keys.push(credentials.clone()),
            crate::credentials::SourceKind::RamRole { base, .. } => next = Some(base),
            _ => {}
        }
    }
    for credentials in keys {
        let secret = credentials.access_key_secret();
        // Only a secret that cannot appear by coincidence: long, and written once in the file
        // (so not also a profile name, a role ARN or a path that the description shows).
        if secret.len() >= 12 && text.matches(secret).count() == 1 {
            assert!(!shown.contains(secret), "secret in Debug: {shown}");
        }
    }
}
