//! How an object is cut into multipart parts. Pure: no I/O, fully unit-tested.
//!
//! OSS limits (`oss-protocol.md` §1.3): part numbers 1…10,000; a part is 100 KB…5 GB except the
//! last, which may be smaller. Within those limits we favour large parts for large files, so that a
//! TB-scale backup has ~1,000 parts (fewer requests, cheap checkpoints) but no part is so large that
//! re-sending one after a dropped link costs minutes: the default is `len / 1000`, kept between
//! 16 MiB and 256 MiB, then raised to whatever the 10,000-part limit demands. 16 MiB parts at 8 in
//! flight already reach the loopback ceiling (`perf-anchors.md` row 26: 3.2 GiB/s for 8–64 MiB).
//!
//! The default plan is **graded**: its parts are 16 MiB and up in the middle but small at both
//! ends, so that no wave of parts in flight starts or ends together. On a long path each part
//! costs its connection a round trip of silence (the answer, then the next request's first
//! bytes), which other connections fill only if they are not silent at the same moment; and a
//! connection carries little (4 MiB/s through a 1 MiB window over 250 ms), so a 16 MiB part that
//! outlives its neighbours holds the end of the upload for seconds. Measured through the
//! emulator's link model at 250 ms, parts of one size in waves of 64 lost about a round trip per
//! wave and several seconds at the end. So:
//! - the first `SPREAD` parts (the widest first wave) grow from `SMALLEST` to the full size,
//!   and finish one after another;
//! - the last parts are each about a `SPREAD`th of what is left, down to `SMALLEST`, so the
//!   last wave ends together.
//!
//! An explicit `--part-size` is kept exactly: every part that size.
//!
//! Part indices are 0-based here; [`PartPlan::part_number`] is the one place that converts to
//! OSS's 1-based part numbers.

use std::ops::Range;

/// Smallest part OSS accepts, except the last (`oss-protocol.md` §1.3: 100 KB; Go SDK
/// `MinPartSize = 100*1024`).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part OSS accepts (§1.3: 5 GB; Go SDK `MaxPartSize = 5 GiB`).
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// Most parts one multipart upload may have (§1.3).
pub const MAX_PARTS: u64 = 10_000;
/// Largest object a multipart upload can hold.
pub const MAX_OBJECT_SIZE: u64 = MAX_PARTS * MAX_PART_SIZE;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Default part size bounds and the part count the default aims at (see the module docs).
const DEFAULT_MIN_PART: u64 = 16 * MIB;
const DEFAULT_MAX_PART: u64 = 256 * MIB;
const DEFAULT_TARGET_PARTS: u64 = 1_000;
/// The widest wave of parts in flight (`controller::MAX`): a graded plan's first this many parts
/// grow, and its last parts each take this share of what is left.
const SPREAD: u64 = 64;
/// A graded plan's smallest part but the last: on a 250 ms path with a 1 MiB window still four
/// round trips of sending per answer awaited, and few enough requests to cost nothing on a fast
/// path.
const SMALLEST: u64 = 4 * MIB;

/// Why no plan fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The object is larger than 10,000 parts of 5 GiB.
    #[error(
        "the file is {len} bytes, more than OSS's multipart limit of {MAX_OBJECT_SIZE} bytes \
         (10,000 parts of 5 GiB); split the backup into several files or compress it"
    )]
    TooLarge {
        /// The object length.
        len: u64,
    },
    /// The requested part size is outside OSS's limits.
    #[error(
        "--part-size {part_size} is outside OSS's limits ({MIN_PART_SIZE} bytes to {MAX_PART_SIZE} \
         bytes); choose a size in that range"
    )]
    PartSizeOutOfRange {
        /// The requested size.
        part_size: u64,
    },
    /// The requested part size would need more than 10,000 parts.
    #[error(
        "--part-size {part_size} would cut this {len}-byte file into more than 10,000 parts; \
         use at least {minimum} bytes (or leave --part-size out to choose automatically)"
    )]
    TooManyParts {
        /// The requested size.
        part_size: u64,
        /// The object length.
        len: u64,
        /// The smallest part size that fits.
        minimum: u64,
    },
}

/// The cut of an object of `len` bytes into parts of at most `part_size`: all that size (the last
/// shorter), or graded (see the module docs).
///
/// A checkpoint stores it as its record ([`PlanRecord`]), checked again when read back: a damaged
/// or hand-edited checkpoint cannot yield a plan OSS would refuse or that divides by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "PlanRecord", try_from = "PlanRecord")]
pub struct PartPlan {
    len: u64,
    part_size: u64,
    graded: bool,
    /// A graded plan's parts are three runs: the first `lead_parts` (`lead_len` bytes) growing,
    /// `full_parts` of `part_size`, then the rest shrinking. Ungraded: no lead, every part full.
    lead_parts: u32,
    lead_len: u64,
    full_parts: u32,
    part_count: u32,
}

/// What a checkpoint records of a plan; the rest is derived.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PlanRecord {
    len: u64,
    part_size: u64,
    /// Absent in checkpoints written before plans were graded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    graded: bool,
}

impl From<PartPlan> for PlanRecord {
    fn from(plan: PartPlan) -> Self {
        PlanRecord {
            len: plan.len,
            part_size: plan.part_size,
            graded: plan.graded,
        }
    }
}

impl TryFrom<PlanRecord> for PartPlan {
    type Error = PlanError;

    fn try_from(record: PlanRecord) -> Result<Self, PlanError> {
        if record.len > MAX_OBJECT_SIZE {
            return Err(PlanError::TooLarge { len: record.len });
        }
        let part_size = checked_part_size(record.len, record.part_size)?;
        Ok(PartPlan::cut(record.len, part_size, record.graded))
    }
}

impl PartPlan {
    /// Chooses a plan for `len` bytes, honouring `requested` part size when given.
    pub fn new(len: u64, requested: Option<u64>) -> Result<Self, PlanError> {
        if len > MAX_OBJECT_SIZE {
            return Err(PlanError::TooLarge { len });
        }
        Ok(match requested {
            Some(part_size) => PartPlan::cut(len, checked_part_size(len, part_size)?, false),
            None => {
                let part_size = default_part_size(len).max(smallest_part_size_for(len));
                PartPlan::cut(len, part_size, true)
            }
        })
    }

    /// The plan of `len` bytes in parts of `part_size` (already checked), graded when asked and
    /// when grading keeps within 10,000 parts.
    fn cut(len: u64, part_size: u64, graded: bool) -> Self {
        let even = PartPlan {
            len,
            part_size,
            graded: false,
            lead_parts: 0,
            lead_len: 0,
            // ≤ MAX_PARTS: checked by the callers.
            full_parts: u32::try_from(len / part_size).unwrap_or(u32::MAX),
            part_count: u32::try_from(len.div_ceil(part_size)).unwrap_or(u32::MAX),
        };
        if !graded || part_size <= SMALLEST {
            return even;
        }
        let lead: Vec<u64> = Grades::from(0, len, part_size)
            .take(SPREAD as usize)
            .collect();
        let lead_len: u64 = lead.iter().sum();
        // The full parts stop where the shrinking starts: 64 to 65 full parts' worth from the end.
        let full_parts = (len - lead_len).saturating_sub(SPREAD * part_size) / part_size;
        let tail_start = lead_len + full_parts * part_size;
        let tail_parts = Grades::from(SPREAD, len - tail_start, part_size).count() as u64;
        let count = lead.len() as u64 + full_parts + tail_parts;
        if count > MAX_PARTS {
            return even;
        }
        PartPlan {
            len,
            part_size,
            graded: true,
            lead_parts: lead.len() as u32,
            lead_len,
            full_parts: u32::try_from(full_parts).unwrap_or(u32::MAX),
            part_count: u32::try_from(count).unwrap_or(u32::MAX),
        }
    }

    /// Object length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty object (no parts; uploaded with a single PutObject).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size the plan was cut for: every part's but the last when it is not graded, the
    /// middle parts' when it is (a file too short for one has none that large).
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// True when the parts are small at both ends (see the module docs).
    pub fn graded(&self) -> bool {
        self.graded
    }

    /// The smallest part's size, the last left out (unless it is the only one).
    pub fn smallest_part_size(&self) -> u64 {
        self.range(0).map_or(0, |first| first.end - first.start)
    }

    /// The largest part's size: `part_size`, unless the file holds no part that large.
    pub fn largest_part_size(&self) -> u64 {
        if self.full_parts > 0 {
            return self.part_size;
        }
        (0..self.part_count)
            .filter_map(|index| self.range(index))
            .map(|range| range.end - range.start)
            .max()
            .unwrap_or(0)
    }

    /// Number of parts (0 for an empty object).
    pub fn part_count(&self) -> u32 {
        self.part_count
    }

    /// Byte range of part `index` (0-based), or `None` past the end.
    pub fn range(&self, index: u32) -> Option<Range<u64>> {
        if index >= self.part_count {
            return None;
        }
        if index < self.lead_parts {
            return Grades::from(0, self.len, self.part_size).nth_range(0, index);
        }
        let full_end = self.lead_parts + self.full_parts;
        if index < full_end || !self.graded {
            let start = self.lead_len + u64::from(index - self.lead_parts) * self.part_size;
            return Some(start..(start + self.part_size).min(self.len));
        }
        let tail_start = self.lead_len + u64::from(self.full_parts) * self.part_size;
        Grades::from(u64::from(full_end), self.len - tail_start, self.part_size)
            .nth_range(tail_start, index - full_end)
    }

    /// OSS's 1-based part number for part `index`: the only place the two numberings meet.
    pub fn part_number(index: u32) -> u32 {
        index + 1
    }

    /// The 0-based index of an OSS part number, if it is one of this plan's.
    pub fn index_of(&self, part_number: u32) -> Option<u32> {
        part_number
            .checked_sub(1)
            .filter(|index| *index < self.part_count())
    }
}

/// "268 graded parts of 4 MiB to 16 MiB", "157 parts of 16 MiB": for messages.
impl std::fmt::Display for PartPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.part_count;
        let noun = if count == 1 { "part" } else { "parts" };
        let (smallest, largest) = (self.smallest_part_size(), self.largest_part_size());
        if smallest < largest {
            let graded = if self.graded { "graded " } else { "" };
            write!(
                f,
                "{count} {graded}{noun} of {} to {}",
                Size(smallest),
                Size(largest)
            )
        } else {
            write!(f, "{count} {noun} of {}", Size(largest))
        }
    }
}

/// Bytes as whole MiB when they are, else as bytes.
struct Size(u64);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            bytes if bytes >= MIB && bytes % MIB == 0 => write!(f, "{} MiB", bytes / MIB),
            bytes => write!(f, "{bytes} bytes"),
        }
    }
}

/// The sizes of a graded plan's parts from part `index` on, cutting the `left` bytes after it:
/// each the smaller of its place in the first wave (part *i* of the first [`SPREAD`] is
/// (*i* + 1)/[`SPREAD`] of `largest`) and a [`SPREAD`]th of what is left, in whole MiB, between
/// [`SMALLEST`] and `largest`; the last takes what remains. A few hundred steps at most, walked
/// once or twice per part sent.
struct Grades {
    index: u64,
    left: u64,
    largest: u64,
}

impl Grades {
    fn from(index: u64, left: u64, largest: u64) -> Self {
        Grades {
            index,
            left,
            largest,
        }
    }

    /// The byte range of the `nth` part of this walk, which starts at byte `start`.
    fn nth_range(self, start: u64, nth: u32) -> Option<Range<u64>> {
        let mut part_start = start;
        for (n, size) in self.enumerate() {
            if n == nth as usize {
                return Some(part_start..part_start + size);
            }
            part_start += size;
        }
        None
    }
}

impl Iterator for Grades {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.left == 0 {
            return None;
        }
        let in_first_wave = match self.index {
            index if index < SPREAD => self.largest / SPREAD * (index + 1),
            _ => self.largest,
        };
        let share_of_rest = self.left.div_ceil(SPREAD);
        let size = in_first_wave.min(share_of_rest).div_ceil(MIB) * MIB;
        let size = size.clamp(SMALLEST, self.largest).min(self.left);
        self.index += 1;
        self.left -= size;
        Some(size)
    }
}

/// `part_size` if OSS accepts it and it cuts `len` into at most 10,000 parts.
fn checked_part_size(len: u64, part_size: u64) -> Result<u64, PlanError> {
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(PlanError::PartSizeOutOfRange { part_size });
    }
    if len.div_ceil(part_size) > MAX_PARTS {
        return Err(PlanError::TooManyParts {
            part_size,
            len,
            minimum: smallest_part_size_for(len),
        });
    }
    Ok(part_size)
}

/// The smallest part size (whole MiB) that keeps `len` within 10,000 parts.
fn smallest_part_size_for(len: u64) -> u64 {
    let needed = len.div_ceil(MAX_PARTS);
    needed.div_ceil(MIB).saturating_mul(MIB).max(MIN_PART_SIZE)
}

fn default_part_size(len: u64) -> u64 {
    let per_target = len.div_ceil(DEFAULT_TARGET_PARTS).div_ceil(MIB) * MIB;
    per_target.clamp(DEFAULT_MIN_PART, DEFAULT_MAX_PART)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_object_has_no_parts() {
        let plan = PartPlan::new(0, None).unwrap();
        assert_eq!(plan.part_count(), 0);
        assert_eq!(plan.range(0), None);
    }

    #[test]
    fn default_favours_about_a_thousand_parts_between_bounds() {
        assert_eq!(PartPlan::new(GIB, None).unwrap().part_size(), 16 * MIB);
        assert_eq!(
            PartPlan::new(100 * GIB, None).unwrap().part_size(),
            103 * MIB
        );
        assert_eq!(
            PartPlan::new(1024 * GIB, None).unwrap().part_size(),
            256 * MIB
        );
        // 10 TiB needs bigger parts than the default cap to stay within 10,000.
        let big = PartPlan::new(10 * 1024 * GIB, None).unwrap();
        assert!(big.part_count() <= 10_000);
        assert!(big.part_size() > 256 * MIB);
    }

    #[test]
    fn explicit_part_size_is_validated() {
        assert!(matches!(
            PartPlan::new(GIB, Some(1024)),
            Err(PlanError::PartSizeOutOfRange { .. })
        ));
        assert!(matches!(
            PartPlan::new(GIB, Some(6 * GIB)),
            Err(PlanError::PartSizeOutOfRange { .. })
        ));
        let err = PartPlan::new(2 * 1024 * GIB, Some(MIB)).unwrap_err();
        assert!(matches!(err, PlanError::TooManyParts { minimum, .. } if minimum == 210 * MIB));
        assert_eq!(PartPlan::new(GIB, Some(8 * MIB)).unwrap().part_count(), 128);
    }

    #[test]
    fn beyond_the_multipart_limit_is_refused() {
        assert!(matches!(
            PartPlan::new(MAX_OBJECT_SIZE + 1, None),
            Err(PlanError::TooLarge { .. })
        ));
        let max = PartPlan::new(MAX_OBJECT_SIZE, None).unwrap();
        assert_eq!(max.part_count(), 10_000);
        assert_eq!(max.part_size(), MAX_PART_SIZE);
    }

    #[test]
    fn part_numbers_are_one_based() {
        let plan = PartPlan::new(3 * MIB, Some(MIB)).unwrap();
        assert_eq!(PartPlan::part_number(0), 1);
        assert_eq!(plan.index_of(1), Some(0));
        assert_eq!(plan.index_of(3), Some(2));
        assert_eq!(plan.index_of(0), None);
        assert_eq!(plan.index_of(4), None);
    }

    fn sizes(plan: &PartPlan) -> Vec<u64> {
        (0..plan.part_count())
            .map(|index| plan.range(index).map_or(0, |r| r.end - r.start))
            .collect()
    }

    #[test]
    fn the_default_plan_is_small_at_both_ends() {
        let plan = PartPlan::new(2500 * MIB, None).unwrap();
        assert!(plan.graded());
        let sizes = sizes(&plan);
        assert_eq!(sizes.iter().sum::<u64>(), 2500 * MIB);
        // The first wave grows from 4 MiB by a MiB every four parts, so its parts end one after
        // another: part i is (i + 1)/64 of 16 MiB, at least 4 MiB.
        assert_eq!(sizes[..16], [4 * MIB; 16]);
        assert_eq!(sizes[16..20], [5 * MIB; 4]);
        assert!(sizes[..64].windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(sizes[60..64], [16 * MIB; 4]);
        // Then 16 MiB parts until the last 64 to 65 parts' worth, then shrinking: the last 64
        // parts (the widest wave in flight) are no larger than 4 MiB.
        let full_end = sizes.iter().rposition(|size| *size == 16 * MIB).unwrap();
        assert!(sizes[60..=full_end].iter().all(|size| *size == 16 * MIB));
        assert!(sizes[full_end..].windows(2).all(|pair| pair[1] <= pair[0]));
        assert!(
            sizes[sizes.len() - 64..]
                .iter()
                .all(|size| *size <= 4 * MIB)
        );
        assert!(sizes.len() < 300, "{} parts", sizes.len());
    }

    #[test]
    fn a_small_file_is_cut_in_small_parts() {
        let plan = PartPlan::new(100 * MIB, None).unwrap();
        assert_eq!(sizes(&plan), [vec![4 * MIB; 25]].concat());
        let tiny = PartPlan::new(MIB + 7, None).unwrap();
        assert_eq!(sizes(&tiny), [MIB + 7]);
    }

    #[test]
    fn a_plan_says_itself() {
        let say = |len, part| PartPlan::new(len, part).unwrap().to_string();
        assert_eq!(say(2500 * MIB, None), "268 graded parts of 4 MiB to 16 MiB");
        assert_eq!(say(2500 * MIB, Some(16 * MIB)), "157 parts of 16 MiB");
        assert_eq!(say(100 * MIB, None), "25 parts of 4 MiB");
        assert_eq!(say(MIB, Some(16 * MIB)), "1 part of 1 MiB");
        assert_eq!(say(MIB + 7, None), "1 part of 1048583 bytes");
    }

    #[test]
    fn an_asked_part_size_is_kept_exactly() {
        let plan = PartPlan::new(2500 * MIB, Some(16 * MIB)).unwrap();
        assert!(!plan.graded());
        assert_eq!(plan.part_count(), 157);
        assert_eq!(plan.range(156), Some(2496 * MIB..2500 * MIB));
    }

    #[test]
    fn a_checkpoint_from_before_the_taper_keeps_its_plan() {
        let old: PartPlan =
            serde_json::from_str(r#"{"len":2621440000,"part_size":16777216}"#).unwrap();
        assert_eq!(old, PartPlan::new(2500 * MIB, Some(16 * MIB)).unwrap());
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"len":2621440000,"part_size":16777216}"#
        );
    }

    #[test]
    fn a_damaged_record_is_refused_not_divided_by() {
        for record in [
            r#"{"len":1048576,"part_size":0}"#,
            r#"{"len":1099511627776,"part_size":1048576}"#,
            r#"{"len":99999999999999999,"part_size":5368709120}"#,
        ] {
            assert!(
                serde_json::from_str::<PartPlan>(record).is_err(),
                "{record}"
            );
        }
    }

    proptest! {
        // Sizes from 0 bytes to OSS's ~48.8 TB maximum: the parts tile the object exactly, respect
        // every limit, and the default plan never exceeds 10,000 parts.
        #[test]
        fn parts_tile_the_object_within_limits(len in prop_oneof![
            0..10 * MIB,
            0..MAX_OBJECT_SIZE,
            (MAX_OBJECT_SIZE - GIB)..=MAX_OBJECT_SIZE,
        ]) {
            let plan = PartPlan::new(len, None).unwrap();
            let count = plan.part_count();
            prop_assert!(u64::from(count) <= MAX_PARTS);
            prop_assert!(plan.part_size() >= MIN_PART_SIZE && plan.part_size() <= MAX_PART_SIZE);
            // The first parts and the whole taper (a full walk of 10,000 parts is too slow here).
            let checked = (0..count.min(32)).chain(count.saturating_sub(700).max(32)..count);
            let mut previous: Option<Range<u64>> = None;
            let mut shrinking = false;
            for index in checked {
                let range = plan.range(index).unwrap();
                let size = range.end - range.start;
                prop_assert!(size > 0 && size <= plan.part_size());
                if let Some(previous) = previous.filter(|p| p.end >= range.start) {
                    prop_assert_eq!(previous.end, range.start, "parts {} and {}", index - 1, index);
                    // Sizes rise, then fall: never rise again once they have fallen.
                    let before = previous.end - previous.start;
                    prop_assert!(!(shrinking && size > before), "part {} grew again", index);
                    shrinking |= size < before;
                }
                if index + 1 < count {
                    prop_assert!(size >= MIN_PART_SIZE);
                }
                previous = Some(range);
            }
            prop_assert_eq!(plan.range(0).map(|r| r.start), (count > 0).then_some(0));
            if count > 0 {
                prop_assert_eq!(plan.range(count - 1).unwrap().end, len);
            }
            prop_assert_eq!(plan.range(count), None);
        }

        // What a checkpoint stores reads back as the same plan.
        #[test]
        fn a_plan_survives_its_checkpoint_record(len in 0..MAX_OBJECT_SIZE, explicit in any::<bool>()) {
            let plan = PartPlan::new(len, explicit.then_some(len.div_ceil(5_000).clamp(MIN_PART_SIZE, MAX_PART_SIZE))).unwrap();
            let text = serde_json::to_string(&plan).unwrap();
            prop_assert_eq!(serde_json::from_str::<PartPlan>(&text).unwrap(), plan);
        }

        #[test]
        fn explicit_sizes_either_fit_or_say_why(len in 0..MAX_OBJECT_SIZE, part in 0..6 * GIB) {
            match PartPlan::new(len, Some(part)) {
                Ok(plan) => {
                    prop_assert_eq!(plan.part_size(), part);
                    prop_assert!(u64::from(plan.part_count()) <= MAX_PARTS);
                }
                Err(PlanError::PartSizeOutOfRange { .. }) => {
                    prop_assert!(!(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part));
                }
                Err(PlanError::TooManyParts { minimum, .. }) => {
                    prop_assert!(len.div_ceil(part) > MAX_PARTS);
                    prop_assert!(len.div_ceil(minimum) <= MAX_PARTS);
                }
                Err(PlanError::TooLarge { .. }) => prop_assert!(false, "len is within the limit"),
            }
        }
    }
}
