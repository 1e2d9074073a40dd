//! The RDS side's view of the OSS side's objects: what `CreateMigrateTask` downloads.
//!
//! A multipart object is stored as separate part blobs, while the backup reader needs one
//! contiguous slice. The object is therefore copied once into an unlinked temporary file and
//! memory-mapped (through `source`, the crate's one owner of `mmap`): a multi-GiB backup costs
//! page cache, not heap, as RDS's own download to its disk would.

use std::sync::Arc;

use bytes::Bytes;

use super::EmulatorState;
use super::rds::ObjectSource;
use crate::source::SourceFile;

/// Reads objects out of a running emulator's storage.
#[derive(Debug)]
pub struct StoredObjects {
    state: Arc<EmulatorState>,
}

impl StoredObjects {
    /// A source over `state`'s storage.
    pub fn new(state: Arc<EmulatorState>) -> Self {
        StoredObjects { state }
    }
}

impl ObjectSource for StoredObjects {
    fn read_object(&self, bucket: &str, key: &str) -> std::io::Result<Option<Bytes>> {
        let Some(reader) = self.state.storage.read_object(bucket, key) else {
            return Ok(None);
        };
        let mut copy = tempfile::NamedTempFile::new()?;
        let len = reader.copy_to(&mut copy)?;
        let mapped = SourceFile::open(copy.path()).map_err(std::io::Error::other)?;
        // The mapping outlives the file's name: the temporary file is removed on return.
        mapped
            .slice(0..len)
            .map(Some)
            .map_err(std::io::Error::other)
    }
}
