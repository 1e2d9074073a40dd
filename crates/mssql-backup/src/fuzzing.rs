//! One entry point per fuzz target, shared by `fuzz/fuzz_targets/*` (libFuzzer, nightly) and the
//! corpus replay of `tests/fuzz_corpus.rs` (stable, every `cargo test`), so both drive exactly
//! the same code. Each takes arbitrary bytes, feeds them to the library's real parsers and
//! ignores their `Err`s; it panics only when an invariant breaks, which is the finding
//! (DESIGN habit 13). The first byte usually picks the parser, so one corpus covers them all.
//!
//! Not a stable API: hidden from the docs, kept `pub` only because the fuzz crate is another
//! crate. Must not: hold logic of its own beyond splitting the input and checking invariants.
//!
//! This crate's targets: the backup reader (`bak_examine`, with the streaming page check;
//! `bak_compressed`).

use crate::{Rules, Severity};

/// `crate::examine` over any bytes: a report, never a panic. A refusal always comes with an
/// error finding and acceptance never has one.
pub fn bak_examine(data: &[u8]) {
    let rules = Rules {
        verify_pages: data.first().is_some_and(|b| b & 1 == 1),
        ..Rules::default()
    };
    let report = crate::examine(data, &rules);
    let has_error = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    assert_eq!(report.verdict.is_refusal(), has_error, "{report:?}");
    pages_by_window(data);
}

/// `page_layout`, then the streaming page check over windows that tile the file (their size
/// from the second byte): the same totals as checking the whole file at once.
fn pages_by_window(data: &[u8]) {
    let crate::PageLayout::Pages(regions) = crate::page_layout(data) else {
        return;
    };
    let _ = crate::pages::look_like_pages(data, &regions);
    let whole = crate::pages::verify(data, &regions);
    let step = u64::from(data.get(1).copied().unwrap_or(1).max(1)) * 509;
    let len = data.len() as u64;
    let (mut checked, mut skipped, mut failed) = (0, 0, 0);
    let mut start = 0;
    while start < len {
        let window = start..(start + step).min(len);
        let check = crate::pages::verify_window(data, 0, &regions, window);
        checked += check.checked;
        skipped += check.skipped;
        failed += check.failed;
        start += step;
    }
    assert_eq!(
        (checked, skipped, failed),
        (whole.checked, whole.skipped, whole.failed)
    );
}

/// The `MSSQLBAK` container path: the bytes go behind the magic, so every input reaches the
/// record walk and the XPRESS-Huffman decoder.
pub fn bak_compressed(data: &[u8]) {
    let mut input = b"MSSQLBAK".to_vec();
    input.extend_from_slice(data);
    let _ = crate::examine(&input, &Rules::default());
}
