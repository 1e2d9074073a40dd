//! How an object is cut into multipart parts. Pure: no I/O, fully unit-tested.
//!
//! OSS limits (`oss-protocol.md` §1.3): part numbers 1…10,000; a part is 100 KB…5 GB except the
//! last, which may be smaller. Within those limits we favour large parts for large files, so that a
//! TB-scale backup has ~1,000 parts (fewer requests, cheap checkpoints) but no part is so large that
//! re-sending one after a dropped link costs minutes: the default is `len / 1000`, kept between
//! 16 MiB and 256 MiB, then raised to whatever the 10,000-part limit demands. 16 MiB parts at 8 in
//! flight already reach the loopback ceiling (`perf-anchors.md` row 26: 3.2 GiB/s for 8–64 MiB).
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

/// The cut of an object of `len` bytes into parts of `part_size` (the last may be shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartPlan {
    len: u64,
    part_size: u64,
}

impl PartPlan {
    /// Chooses a plan for `len` bytes, honouring `requested` part size when given.
    pub fn new(len: u64, requested: Option<u64>) -> Result<Self, PlanError> {
        if len > MAX_OBJECT_SIZE {
            return Err(PlanError::TooLarge { len });
        }
        let minimum = smallest_part_size_for(len);
        let part_size = match requested {
            Some(part_size) if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) => {
                return Err(PlanError::PartSizeOutOfRange { part_size });
            }
            Some(part_size) if len.div_ceil(part_size) > MAX_PARTS => {
                return Err(PlanError::TooManyParts {
                    part_size,
                    len,
                    minimum,
                });
            }
            Some(part_size) => part_size,
            None => default_part_size(len).max(minimum),
        };
        Ok(PartPlan { len, part_size })
    }

    /// Object length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty object (no parts; uploaded with a single PutObject).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of every part but the last.
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// Number of parts (0 for an empty object).
    pub fn part_count(&self) -> u32 {
        // ≤ MAX_PARTS by construction, so the conversion cannot fail.
        u32::try_from(self.len.div_ceil(self.part_size)).unwrap_or(u32::MAX)
    }

    /// Byte range of part `index` (0-based), or `None` past the end.
    pub fn range(&self, index: u32) -> Option<Range<u64>> {
        if index >= self.part_count() {
            return None;
        }
        let start = u64::from(index) * self.part_size;
        let end = (start + self.part_size).min(self.len);
        Some(start..end)
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
            let mut next = 0;
            for index in 0..count {
                let range = plan.range(index).unwrap();
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start);
                let size = range.end - range.start;
                prop_assert!(size <= plan.part_size());
                if index + 1 < count {
                    prop_assert_eq!(size, plan.part_size());
                }
                next = range.end;
                if count > 64 && index == 31 { break; }
            }
            if count > 0 {
                let last = plan.range(count - 1).unwrap();
                prop_assert_eq!(last.end, len);
            }
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
