//! The RDS side's view of the OSS side's objects: what `CreateMigrateTask` downloads.
//!
//! A multipart object is stored as separate part blobs, while the backup reader needs one
//! contiguous slice. The object is therefore copied once into an unlinked temporary file and
//! memory-mapped: a multi-GiB backup costs page cache, not heap, as RDS's own download to its
//! disk would. The crate's one `unsafe` is that mapping.
#![allow(unsafe_code)]

use std::sync::Arc;

use bytes::Bytes;

use super::EmulatorState;
use super::rds::ObjectSource;

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
        // Without the import role RDS sees nothing in the bucket, which it reports as a missing
        // file (the guide gives both causes for the one message).
        if !self.state.rds_can_read(bucket) {
            return Ok(None);
        }
        let Some(reader) = self.state.storage.read_object(bucket, key) else {
            return Ok(None);
        };
        let mut copy = tempfile::NamedTempFile::new()?;
        let len = reader.copy_to(&mut copy)?;
        if len == 0 {
            return Ok(Some(Bytes::new()));
        }
        // SAFETY: the file is this process's own temporary copy, created above and never
        // written, truncated or shared after this point, so the mapped bytes cannot change or
        // vanish while the `Bytes` lives. The mapping outlives the file's name: the temporary
        // file is removed on return.
        let mapped = unsafe { memmap2::Mmap::map(copy.as_file()) }?;
        let mut bytes = Bytes::from_owner(mapped);
        bytes.truncate(usize::try_from(len).map_err(std::io::Error::other)?);
        Ok(Some(bytes))
    }
}
