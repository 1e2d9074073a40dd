//! One entry point per fuzz target, shared by `fuzz/fuzz_targets/*` (libFuzzer, nightly) and the
//! corpus replay of `tests/fuzz_corpus.rs` (stable, every `cargo test`), so both drive exactly
//! the same code. Each takes arbitrary bytes, feeds them to the library's real parsers and
//! ignores their `Err`s; it panics only when an invariant breaks, which is the finding
//! (DESIGN habit 13). The first byte usually picks the parser, so one corpus covers them all.
//!
//! Not a stable API: hidden from the docs, kept `pub` only because the fuzz crate is another
//! crate. Must not: hold logic of its own beyond splitting the input and checking invariants.
//!
//! This crate's targets: the backup reader (`bak_examine`, `bak_compressed`).

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
}

/// The `MSSQLBAK` container path: the bytes go behind the magic, so every input reaches the
/// record walk and the XPRESS-Huffman decoder.
pub fn bak_compressed(data: &[u8]) {
    let mut input = b"MSSQLBAK".to_vec();
    input.extend_from_slice(data);
    let _ = crate::examine(&input, &Rules::default());
}
