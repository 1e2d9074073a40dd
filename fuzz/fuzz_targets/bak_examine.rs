//! Any bytes → `bak::examine` must return a report, never panic or hang. Invariants checked:
//! a refusal class always comes with an error finding; `accept` never has one.
#![no_main]

use bak2rds::bak::{self, Rules, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rules = Rules {
        verify_pages: data.first().is_some_and(|b| b & 1 == 1),
        ..Rules::default()
    };
    let report = bak::examine(data, &rules);
    let has_error = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    assert_eq!(report.verdict.is_refusal(), has_error, "{report:?}");
});
