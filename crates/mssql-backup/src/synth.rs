//! Writer of synthetic backups: structurally valid MTF files (every header checksum, SCIN/SFGI/
//! SFIN chunks, data pages with valid page checksums) of any size, for demos, tests and
//! benchmarks. Real fixtures remain the truth for parsing; this writer follows the layout SQL
//! Server writes with 512-byte physical blocks [note §2.5, §5]:
//!
//! ```text
//! TAPE(RAID) SFMB SSET VOLB MSCI(MQCI) MSDA(APAD MQDA… MQDA-end) MSTL(MQTL) MSLS(MQCI) SFMB ESET ESET SFMB
//! ```
//!
//! Speed: the page payload is written in 8 MiB batches from one template; per page only the
//! page id and the checksum change, and since the checksum is an XOR of rotated sector sums
//! [note §7.5], the new checksum is patched from the old one in O(1).

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::pages::{self, PAGE_SIZE};
use super::raw::{self, LOGICAL_BLOCK, STREAM_HEADER_LEN, scin, sfgi, sfin, tag};
use super::target::{self, TargetVersion};
use super::types::{BackupType, Guid, Lsn, MtfDate};

/// Physical block size of synthetic media (the commonest; note §2.3).
const PHYSICAL_BLOCK: u64 = 512;
/// Where the SSET sits with 512-byte blocks: after TAPE (1024) and SFMB (512) [note §0].
const SSET_OFFSET: u64 = 0x600;
/// SQL Server's software vendor id in MTF headers [note §3.1].
const VENDOR_SQL_SERVER: u16 = 0x1200;
/// SCIN flags every sample has, and the bit set in differentials [note §4.2].
const SCIN_FLAGS_BASE: u32 = 0x200;
const SCIN_FLAG_DIFFERENTIAL: u32 = 0x800;
/// SCIN's fixed part; the names follow it [note §4.2].
const SCIN_FIXED_LEN: usize = 0x160;
/// SFIN's fixed part [note §4.4].
const SFIN_FIXED_LEN: usize = 0x38;
/// SQL_Latin1_General_CP1_CI_AS [note §4.2].
const COLLATION: [u8; 5] = [0x09, 0x04, 0xd0, 0x00, 0x34];
/// Log bytes every full/differential carries in its MSTL (the log written during the backup).
const FULL_LOG_TAIL: u64 = 64 * 1024;
/// Pages written per batch (8 MiB): large sequential writes keep the writer disk-bound.
const PAGES_PER_BATCH: usize = 1024;
/// The first page id of the synthetic data file (pages 0-8 are file headers and maps).
const FIRST_PAGE_ID: u32 = 9;
/// Page header offsets of the page id and file id [note §7.5 lists the checksum at 60].
const PAGE_ID_OFFSET: usize = 32;
const FILE_ID_OFFSET: usize = 36;

/// Lead bytes at the start of MQDA/MQTL data, before the pages [note §2.5].
const LEAD_BYTES: u64 = 2;

/// The kinds of backup `synth` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthKind {
    /// Full database backup.
    Full,
    /// Differential backup.
    Differential,
    /// Transaction log backup.
    Log,
}

impl SynthKind {
    fn backup_type(self) -> BackupType {
        match self {
            SynthKind::Full => BackupType::Full,
            SynthKind::Differential => BackupType::Differential,
            SynthKind::Log => BackupType::Log,
        }
    }
}

/// One synthetic database: the identity every backup of it shares.
#[derive(Debug, Clone)]
pub struct SynthDatabase {
    /// DatabaseName.
    pub name: String,
    /// ServerName.
    pub server: String,
    /// The SQL Server release that "wrote" the backups.
    pub version: TargetVersion,
    /// Seed for GUIDs and dates; two databases with the same seed and name are identical.
    pub seed: u64,
}

impl SynthDatabase {
    /// A database called `name` on server `SYNTH`, written by `version`.
    pub fn new(name: &str, version: TargetVersion) -> Self {
        SynthDatabase {
            name: name.to_owned(),
            server: "SYNTH".to_owned(),
            version,
            seed: 1,
        }
    }

    /// A GUID derived from the database identity and a label.
    fn guid(&self, label: &str) -> Guid {
        let mut hasher = Sha256::new();
        hasher.update(self.name.as_bytes());
        hasher.update(self.seed.to_le_bytes());
        hasher.update(label.as_bytes());
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Guid(out)
    }
}

/// The LSNs of one backup set (RESTORE HEADERONLY's columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SynthLsns {
    /// FirstLSN.
    pub first: Lsn,
    /// LastLSN.
    pub last: Lsn,
    /// CheckpointLSN.
    pub checkpoint: Lsn,
    /// DatabaseBackupLSN (the base full's CheckpointLSN; none for the first full).
    pub database_backup: Option<Lsn>,
    /// DifferentialBaseLSN (differentials only).
    pub differential_base: Option<Lsn>,
}

/// Everything one synthetic backup file needs.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    /// The database backed up.
    pub database: SynthDatabase,
    /// Full, differential or log.
    pub kind: SynthKind,
    /// Approximate total size in bytes of the backup (all families together).
    pub size: u64,
    /// Number of files in the media set (1 = not striped).
    pub family_count: u16,
    /// Which family this file is, 1-based.
    pub family_sequence: u16,
    /// The LSNs.
    pub lsns: SynthLsns,
    /// Position of this backup in its database's history (dates and GUIDs derive from it).
    pub ordinal: u32,
    /// BackupSetGUID of the full this backup builds on (differentials and logs).
    pub base_full_guid: Option<Guid>,
}

impl SynthSpec {
    /// A lone backup of `kind` with realistic LSNs, of about `size` bytes.
    pub fn single(database: SynthDatabase, kind: SynthKind, size: u64) -> Self {
        let mut chain = SynthChain::new(database);
        if kind != SynthKind::Full {
            chain.full(0);
        }
        let mut spec = match kind {
            SynthKind::Full => chain.full(size),
            SynthKind::Differential => chain.differential(size),
            SynthKind::Log => chain.log(size),
        };
        spec.size = size;
        spec
    }

    /// BackupSetGUID of this backup.
    pub fn backup_set_guid(&self) -> Guid {
        self.database.guid(&format!("backup-set-{}", self.ordinal))
    }

    /// The same backup as family `sequence` of `count`.
    pub fn family(mut self, sequence: u16, count: u16) -> Self {
        self.family_sequence = sequence;
        self.family_count = count;
        self
    }
}

/// Generates a coherent backup history of one database: full → differentials and logs whose
/// LSNs chain the way SQL Server's do [note §4.2: a diff's DifferentialBaseLSN is its full's
/// CheckpointLSN; each log starts where the previous one ended].
#[derive(Debug, Clone)]
pub struct SynthChain {
    database: SynthDatabase,
    next: Lsn,
    ordinal: u32,
    full: Option<(Lsn, Guid)>,
    previous_full_checkpoint: Option<Lsn>,
    log_end: Option<Lsn>,
}

impl SynthChain {
    /// A new history; LSNs start in VLF 37 like a young database.
    pub fn new(database: SynthDatabase) -> Self {
        SynthChain {
            database,
            next: Lsn {
                vlf: 37,
                block: 400,
                slot: 37,
            },
            ordinal: 0,
            full: None,
            previous_full_checkpoint: None,
            log_end: None,
        }
    }

    fn advance(&mut self, blocks: u32) -> Lsn {
        let at = self.next;
        self.next = Lsn {
            vlf: at.vlf,
            block: at.block.saturating_add(blocks),
            slot: 1,
        };
        at
    }

    fn spec(&mut self, kind: SynthKind, size: u64, lsns: SynthLsns) -> SynthSpec {
        self.ordinal += 1;
        SynthSpec {
            database: self.database.clone(),
            kind,
            size,
            family_count: 1,
            family_sequence: 1,
            lsns,
            ordinal: self.ordinal,
            base_full_guid: self.full.map(|(_, g)| g),
        }
    }

    /// The next full backup.
    pub fn full(&mut self, size: u64) -> SynthSpec {
        let first = self.advance(16);
        let last = self.advance(16);
        let lsns = SynthLsns {
            first,
            last,
            checkpoint: first,
            database_backup: self.previous_full_checkpoint,
            differential_base: None,
        };
        let spec = self.spec(SynthKind::Full, size, lsns);
        self.full = Some((first, spec.backup_set_guid()));
        self.previous_full_checkpoint = Some(first);
        self.log_end.get_or_insert(first);
        spec
    }

    /// The next differential, based on the latest full.
    pub fn differential(&mut self, size: u64) -> SynthSpec {
        let first = self.advance(8);
        let last = self.advance(8);
        let base = self.full.map(|(lsn, _)| lsn);
        let lsns = SynthLsns {
            first,
            last,
            checkpoint: first,
            database_backup: base,
            differential_base: base,
        };
        self.spec(SynthKind::Differential, size, lsns)
    }

    /// The next log backup, starting where the previous one ended.
    pub fn log(&mut self, size: u64) -> SynthSpec {
        let start = self.log_end.unwrap_or(self.next);
        let last = self.advance(32);
        let base = self.full.map(|(lsn, _)| lsn);
        let lsns = SynthLsns {
            first: start,
            last,
            checkpoint: base.unwrap_or(start),
            database_backup: base,
            differential_base: None,
        };
        self.log_end = Some(last);
        self.spec(SynthKind::Log, size, lsns)
    }
}

/// The release facts a synthetic header needs: (compat level, build) of each release's RTM.
fn release_facts(version: &TargetVersion) -> (u8, u16) {
    match version.release {
        "2008 R2" => (100, 1600),
        "2012" => (110, 2100),
        "2014" => (120, 2000),
        "2016" => (130, 1601),
        "2017" => (140, 1000),
        "2019" => (150, 2000),
        _ => (160, 1000),
    }
}

/// Writes the backup `spec` describes to `out`; returns the bytes written.
pub fn write_synthetic(out: &mut impl Write, spec: &SynthSpec) -> io::Result<u64> {
    let plan = Plan::new(spec);
    out.write_all(&plan.head)?;
    let mut written = u64::try_from(plan.head.len()).unwrap_or(0);
    written += match spec.kind {
        SynthKind::Log => write_zeros(out, plan.payload_len.saturating_sub(LEAD_BYTES))?,
        _ => write_pages(out, plan.page_count)?,
    };
    out.write_all(&plan.tail)?;
    written += u64::try_from(plan.tail.len()).unwrap_or(0);
    Ok(written)
}

/// Writes the backup to a new file at `path` (buffered, large writes).
pub fn write_synthetic_file(path: &std::path::Path, spec: &SynthSpec) -> io::Result<u64> {
    let file = std::fs::File::create(path)?;
    let mut out = io::BufWriter::with_capacity(PAGE_SIZE * PAGES_PER_BATCH, file);
    let written = write_synthetic(&mut out, spec)?;
    out.flush()?;
    Ok(written)
}

/// The bytes before and after the payload, computed up front so the trailing SCIN can carry
/// the final sizes.
struct Plan {
    head: Vec<u8>,
    tail: Vec<u8>,
    page_count: u64,
    payload_len: u64,
}

impl Plan {
    fn new(spec: &SynthSpec) -> Plan {
        let families = u64::from(spec.family_count.max(1));
        let share = spec.size / families;
        // Headers take about 8 KiB (plus the log tail of a full or differential); the rest
        // is payload.
        let overhead = match spec.kind {
            SynthKind::Log => 8 * 1024,
            _ => 8 * 1024 + FULL_LOG_TAIL,
        };
        let payload = share.saturating_sub(overhead);
        let (page_count, payload_len) = match spec.kind {
            SynthKind::Log => (0, payload.max(PAGE_SIZE as u64)),
            _ => {
                let pages = (payload / PAGE_SIZE as u64).max(1);
                (pages, 2 + pages * PAGE_SIZE as u64)
            }
        };
        // Two passes: the first learns the file size for BackupSize, the second writes it.
        let mut plan = Plan::build(spec, page_count, payload_len, 0);
        let file_len = plan.head.len() as u64 + payload_len - LEAD_BYTES + plan.tail.len() as u64;
        plan = Plan::build(spec, page_count, payload_len, file_len * families);
        plan
    }

    fn build(spec: &SynthSpec, page_count: u64, payload_len: u64, backup_size: u64) -> Plan {
        let mut head = MtfBuf::new(0);
        head.tape(spec);
        head.sfmb();
        head.sset(spec);
        head.volb();
        head.config_block(tag::MSCI, spec, backup_size, false);
        let data_stream = match spec.kind {
            SynthKind::Log => {
                head.dblk(tag::MSTL, 592);
                head.aligned_stream(tag::MQTL, payload_len)
            }
            _ => {
                head.dblk(tag::MSDA, 60);
                head.aligned_stream(tag::MQDA, payload_len)
            }
        };
        let _ = data_stream;
        // The 2 lead bytes of the data stream are already in `head`.
        let mut tail = MtfBuf::new(head.pos() + payload_len - LEAD_BYTES);
        if spec.kind != SynthKind::Log {
            // The VAR_END marker of the variable-length MQDA stream [note §2.5].
            tail.stream(tag::MQDA, 0x6, &[]);
            tail.spad_to_next_block();
            tail.dblk(tag::MSTL, 592);
            tail.stream(
                tag::MQTL,
                0,
                &vec![0u8; usize::try_from(FULL_LOG_TAIL).unwrap_or(0)],
            );
            tail.spad_to_next_block();
        } else {
            tail.align4();
            tail.spad_to_next_block();
        }
        tail.config_block(tag::MSLS, spec, backup_size, true);
        tail.sfmb();
        // The first ESET spans 2 KiB, as SQL Server writes it [note §5].
        let first_eset = tail.pos();
        tail.dblk(tag::ESET, 88);
        tail.spad_to(first_eset + 2 * LOGICAL_BLOCK);
        tail.dblk(tag::ESET, 88);
        tail.spad_to_next_block();
        tail.sfmb();
        Plan {
            head: head.bytes,
            tail: tail.bytes,
            page_count,
            payload_len,
        }
    }
}

/// An MTF byte buffer that knows its file offset.
struct MtfBuf {
    bytes: Vec<u8>,
    base: u64,
    control_id: u32,
}

impl MtfBuf {
    fn new(base: u64) -> Self {
        MtfBuf {
            bytes: Vec::with_capacity(16 * 1024),
            base,
            control_id: 0,
        }
    }

    fn pos(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        if let Some(s) = self.bytes.get_mut(at..at + 2) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        if let Some(s) = self.bytes.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn put(&mut self, at: usize, v: &[u8]) {
        if let Some(s) = self.bytes.get_mut(at..at + v.len()) {
            s.copy_from_slice(v);
        }
    }

    /// Appends a DBLK whose fixed part is `first_event` bytes; returns its start in `bytes`.
    fn dblk(&mut self, block_tag: [u8; 4], first_event: u16) -> usize {
        let start = self.bytes.len();
        let at = self.pos();
        self.bytes.resize(start + usize::from(first_event), 0);
        self.put(start, &block_tag);
        self.put_u16(start + 8, first_event);
        self.bytes[start + 10] = 14; // OS id: Windows NT [note §2.1]
        self.bytes[start + 11] = 1;
        let fla = at.saturating_sub(SSET_OFFSET) / LOGICAL_BLOCK;
        self.put(
            start + raw::dblk::FORMAT_LOGICAL_ADDRESS as usize,
            &fla.to_le_bytes(),
        );
        if block_tag != tag::TAPE && block_tag != tag::SFMB {
            self.put_u32(start + 36, self.control_id);
            self.control_id += 1;
        }
        let strings = [tag::TAPE, tag::SSET, tag::VOLB, tag::MSCI, tag::MSLS].contains(&block_tag);
        self.bytes[start + raw::dblk::STRING_TYPE as usize] = if strings { 2 } else { 0 };
        // Sealed now for blocks with no other fields; callers that set fields seal again.
        self.seal(start);
        start
    }

    /// Recomputes the header checksum of the DBLK at `start` (after its fields are set).
    fn seal(&mut self, start: usize) {
        let sum = raw::xor_u16(&self.bytes[start..start + 50]);
        self.put_u16(start + raw::dblk::CHECKSUM as usize, sum);
    }

    fn align4(&mut self) {
        while !self.pos().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// Appends a stream header for `len` bytes of data.
    fn stream_header(&mut self, id: [u8; 4], attributes: u16, len: u64) {
        self.align4();
        let mut h = [0u8; STREAM_HEADER_LEN as usize];
        h[..4].copy_from_slice(&id);
        h[6..8].copy_from_slice(&attributes.to_le_bytes());
        h[8..16].copy_from_slice(&len.to_le_bytes());
        let sum = raw::xor_u16(&h[..20]);
        h[20..22].copy_from_slice(&sum.to_le_bytes());
        self.bytes.extend_from_slice(&h);
    }

    fn stream(&mut self, id: [u8; 4], attributes: u16, data: &[u8]) {
        self.stream_header(id, attributes, data.len() as u64);
        self.bytes.extend_from_slice(data);
    }

    /// An APAD then the header of a data stream whose payload, after 2 lead bytes, starts on a
    /// physical block [note §2.3]; the 2 lead bytes are appended, the rest is the caller's.
    fn aligned_stream(&mut self, id: [u8; 4], len: u64) -> u64 {
        self.align4();
        let apad_data = self.pos() + STREAM_HEADER_LEN;
        let lead = STREAM_HEADER_LEN + 2;
        let mut header_at = (apad_data + lead).next_multiple_of(PHYSICAL_BLOCK) - lead;
        if header_at < apad_data {
            header_at += PHYSICAL_BLOCK;
        }
        self.stream_header(tag::APAD, 0x80, header_at - apad_data);
        self.bytes
            .resize(self.bytes.len() + (header_at - apad_data) as usize, 0);
        self.stream_header(id, 0x2, len);
        self.bytes.extend_from_slice(&[0, 0]);
        self.pos()
    }

    /// Ends the chain with SPAD so that the next DBLK starts at `target`.
    fn spad_to(&mut self, target: u64) {
        self.align4();
        let data = self.pos() + STREAM_HEADER_LEN;
        let len = target.saturating_sub(data);
        self.stream_header(tag::SPAD, 0, len);
        self.bytes.resize(self.bytes.len() + len as usize, 0);
    }

    /// SPAD up to the next format logical block counted from the SSET [note §2.3].
    fn spad_to_next_block(&mut self) {
        self.align4();
        let min_end = self.pos() + STREAM_HEADER_LEN;
        let from_sset = min_end
            .saturating_sub(SSET_OFFSET)
            .next_multiple_of(LOGICAL_BLOCK);
        self.spad_to(SSET_OFFSET + from_sset);
    }

    fn tape(&mut self, spec: &SynthSpec) {
        let start = self.dblk(tag::TAPE, 140);
        self.put_u32(start + 4, 0x30000); // set map exists + FDD allowed [note §2.1]
        self.put(start + 52, &spec.database.guid("family").0[..4]);
        self.put_u32(start + 56, 0x5);
        self.put_u16(start + 60, 1);
        self.put_u16(
            start + raw::tape::SOFT_FILEMARK_BLOCK_SIZE as usize,
            (PHYSICAL_BLOCK / 512) as u16,
        );
        self.put_u16(start + 66, 3);
        let name: Vec<u8> = "Microsoft SQL Server\0\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        self.put_u16(start + raw::tape::SOFTWARE_NAME as usize, name.len() as u16);
        self.put_u16(start + raw::tape::SOFTWARE_NAME as usize + 2, 94);
        self.put(start + 94, &name);
        self.put_u16(
            start + raw::tape::FORMAT_LOGICAL_BLOCK_SIZE as usize,
            LOGICAL_BLOCK as u16,
        );
        self.put_u16(start + 86, VENDOR_SQL_SERVER);
        self.put(start + 88, &start_date(spec).to_bytes());
        self.bytes[start + 93] = 1;
        self.seal(start);
        let mut raid = [0u8; 32];
        raid[..16].copy_from_slice(&spec.database.guid(&format!("media-{}", spec.ordinal)).0);
        raid[16..20].copy_from_slice(&0xF000_00ADu32.to_le_bytes());
        raid[20..22].copy_from_slice(&spec.family_count.max(1).to_le_bytes());
        raid[22..24].copy_from_slice(&1u16.to_le_bytes());
        raid[24..26].copy_from_slice(&spec.family_sequence.max(1).to_le_bytes());
        raid[30..32].copy_from_slice(&1u16.to_le_bytes());
        self.stream(tag::RAID, 0, &raid);
        self.spad_to(LOGICAL_BLOCK.max(PHYSICAL_BLOCK));
    }

    fn sfmb(&mut self) {
        let start = self.dblk(tag::SFMB, PHYSICAL_BLOCK as u16);
        self.put_u32(start + 4, 0x8000_0000);
        self.put_u32(start + 52, 2);
        self.seal(start);
    }

    fn sset(&mut self, spec: &SynthSpec) {
        let name: Vec<u8> = format!(
            "{}-{} Database Backup",
            spec.database.name,
            kind_word(spec.kind)
        )
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
        let fixed = 122usize;
        let first_event = (fixed + name.len()).next_multiple_of(4);
        let start = self.dblk(tag::SSET, u16::try_from(first_event).unwrap_or(u16::MAX));
        let attributes = match spec.kind {
            SynthKind::Differential => 0x8,
            _ => 0x4,
        };
        self.put_u32(start + 52, attributes);
        self.put_u16(start + 60, VENDOR_SQL_SERVER);
        self.put_u16(start + 62, 1);
        self.put_u16(start + 64, u16::try_from(name.len()).unwrap_or(0));
        self.put_u16(start + 66, fixed as u16);
        self.put(start + fixed, &name);
        self.put(start + 80, &SSET_OFFSET.to_le_bytes());
        self.put(start + 88, &start_date(spec).to_bytes());
        let (major, minor) = target::software_major(&spec.database.version);
        self.bytes[start + 93] = major;
        self.bytes[start + 94] = minor;
        self.bytes[start + 95] = 127;
        self.bytes[start + 97] = 2;
        self.put(start + 100, &spec.backup_set_guid().0);
        self.seal(start);
        self.spad_to_next_block();
    }

    fn volb(&mut self) {
        let start = self.dblk(tag::VOLB, 92);
        self.put_u32(start + 52, 2);
        self.seal(start);
        self.spad_to_next_block();
    }

    fn config_block(
        &mut self,
        block_tag: [u8; 4],
        spec: &SynthSpec,
        backup_size: u64,
        trailing: bool,
    ) {
        let start = self.dblk(block_tag, 56);
        self.seal(start);
        let mut chunks = scin_chunk(spec, backup_size, trailing);
        chunks.extend(sfgi_chunk());
        let (data_pages, log_size) = match spec.kind {
            SynthKind::Log => (0, spec.size),
            _ => (spec.size / PAGE_SIZE as u64, FULL_LOG_TAIL),
        };
        let data_size = (spec.size.max(8 << 20)).next_multiple_of(1 << 20);
        chunks.extend(sfin_chunk(
            spec,
            1,
            data_pages,
            data_size,
            &format!("{}.mdf", spec.database.name),
            "",
        ));
        chunks.extend(sfin_chunk(
            spec,
            2,
            0,
            log_size.max(8 << 20).next_multiple_of(1 << 20),
            &format!("{}_log.ldf", spec.database.name),
            "_log",
        ));
        self.stream(tag::MQCI, 0, &chunks);
        self.spad_to_next_block();
    }
}

fn kind_word(kind: SynthKind) -> &'static str {
    match kind {
        SynthKind::Full => "Full",
        SynthKind::Differential => "Differential",
        SynthKind::Log => "Transaction Log",
    }
}

fn start_date(spec: &SynthSpec) -> MtfDate {
    let minutes = spec.ordinal.saturating_mul(15);
    MtfDate {
        year: 2024,
        month: 5,
        day: 18,
        hour: u8::try_from(8 + minutes / 60 % 12).unwrap_or(8),
        minute: u8::try_from(minutes % 60).unwrap_or(0),
        second: 0,
    }
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The SCIN chunk [note §4.2].
fn scin_chunk(spec: &SynthSpec, backup_size: u64, trailing: bool) -> Vec<u8> {
    let db = &spec.database;
    let name = utf16(&db.name);
    let server = utf16(&db.server);
    let mut c = vec![0u8; SCIN_FIXED_LEN + name.len() + server.len()];
    let size = u32::try_from(c.len()).unwrap_or(0);
    let mut put = |at: u64, v: &[u8]| {
        let at = at as usize;
        c[at..at + v.len()].copy_from_slice(v);
    };
    put(0, &tag::SCIN);
    put(4, &size.to_le_bytes());
    let mut flags = SCIN_FLAGS_BASE;
    if spec.kind == SynthKind::Differential {
        flags |= SCIN_FLAG_DIFFERENTIAL;
    }
    put(scin::FLAGS, &flags.to_le_bytes());
    put(0x0C, &1u32.to_le_bytes());
    put(0x10, &1u32.to_le_bytes());
    let (compat, build) = release_facts(&db.version);
    let (major, minor) = target::software_major(&db.version);
    put(scin::SOFTWARE_BUILD, &build.to_le_bytes());
    put(scin::SOFTWARE_MINOR, &[minor]);
    put(scin::SOFTWARE_MAJOR, &[major]);
    let l = &spec.lsns;
    put(scin::FIRST_LSN, &l.first.to_bytes());
    put(scin::LAST_LSN, &l.last.to_bytes());
    put(scin::CHECKPOINT_LSN, &l.checkpoint.to_bytes());
    put(
        scin::DATABASE_BACKUP_LSN,
        &l.database_backup.unwrap_or_default().to_bytes(),
    );
    put(
        scin::DIFFERENTIAL_BASE_LSN,
        &l.differential_base.unwrap_or_default().to_bytes(),
    );
    let created = MtfDate {
        year: 2024,
        month: 1,
        day: 2,
        hour: 9,
        minute: 30,
        second: 0,
    };
    put(scin::DATABASE_CREATION_DATE, &created.to_bytes());
    put(scin::BACKUP_START_DATE, &start_date(spec).to_bytes());
    if trailing {
        put(scin::BACKUP_FINISH_DATE, &start_date(spec).to_bytes());
    }
    put(scin::BACKUP_TYPE, &[spec.kind.backup_type().letter()]);
    put(0x58, &[COLLATION[4]]);
    put(0x59, &[1]);
    put(scin::COMPATIBILITY_LEVEL, &[compat]);
    put(
        scin::DATABASE_VERSION,
        &db.version.max_database_version.to_le_bytes(),
    );
    put(scin::BACKUP_SIZE, &backup_size.to_le_bytes());
    let name_at = SCIN_FIXED_LEN as u16;
    put(scin::DATABASE_NAME, &ta(name.len(), name_at));
    put(
        scin::SERVER_NAME,
        &ta(server.len(), name_at + name.len() as u16),
    );
    put(0x74, &1033u32.to_le_bytes());
    put(0x78, &0x30001u32.to_le_bytes());
    put(scin::DATABASE_GUID, &db.guid("database").0);
    put(0x90, &l.last.to_bytes());
    put(0x9C, &db.guid("recovery-fork").0);
    if let Some(full) = spec.base_full_guid {
        put(scin::LAST_FULL_BACKUP_GUID, &full.0);
        if spec.kind == SynthKind::Differential {
            put(scin::DIFFERENTIAL_BASE_GUID, &full.0);
        }
    }
    put(scin::COLLATION, &COLLATION);
    put(scin::COMPRESSED_BACKUP_SIZE, &backup_size.to_le_bytes());
    put(SCIN_FIXED_LEN as u64, &name);
    put(SCIN_FIXED_LEN as u64 + name.len() as u64, &server);
    c
}

/// A tape address `{size, offset}`.
fn ta(size: usize, offset: u16) -> [u8; 4] {
    let s = u16::try_from(size).unwrap_or(0).to_le_bytes();
    let o = offset.to_le_bytes();
    [s[0], s[1], o[0], o[1]]
}

/// The SFGI chunk for PRIMARY [note §4.3].
fn sfgi_chunk() -> Vec<u8> {
    let name = utf16("PRIMARY");
    let mut c = vec![0u8; 0x14 + name.len()];
    let size = u32::try_from(c.len()).unwrap_or(0);
    c[..4].copy_from_slice(&tag::SFGI);
    c[4..8].copy_from_slice(&size.to_le_bytes());
    c[8..12].copy_from_slice(&0x10u32.to_le_bytes());
    c[sfgi::ID as usize..sfgi::ID as usize + 4].copy_from_slice(&1u32.to_le_bytes());
    c[sfgi::NAME as usize..sfgi::NAME as usize + 4].copy_from_slice(&ta(name.len(), 0x14));
    c[0x14..].copy_from_slice(&name);
    c
}

/// An SFIN chunk: file 1 is the data file, file 2 the log [note §4.4].
fn sfin_chunk(
    spec: &SynthSpec,
    file_id: u32,
    pages: u64,
    size: u64,
    physical: &str,
    suffix: &str,
) -> Vec<u8> {
    let logical = utf16(&format!("{}{suffix}", spec.database.name));
    let physical = utf16(&format!("D:\\MSSQL\\DATA\\{physical}"));
    let mut c = vec![0u8; SFIN_FIXED_LEN + logical.len() + physical.len()];
    let size_field = u32::try_from(c.len()).unwrap_or(0);
    let is_log = file_id == 2;
    let mut put = |at: u64, v: &[u8]| {
        let at = at as usize;
        c[at..at + v.len()].copy_from_slice(v);
    };
    put(0, &tag::SFIN);
    put(4, &size_field.to_le_bytes());
    put(8, &(if is_log { 0x0Cu32 } else { 0x84 }).to_le_bytes());
    put(0x10, &(PAGE_SIZE as u32).to_le_bytes());
    put(sfin::FILE_ID, &file_id.to_le_bytes());
    put(
        0x18,
        &u32::try_from(pages).unwrap_or(u32::MAX).to_le_bytes(),
    );
    put(sfin::TYPE, &(if is_log { 2u32 } else { 1 }).to_le_bytes());
    put(
        sfin::FILEGROUP_ID,
        &(if is_log { 0u32 } else { 1 }).to_le_bytes(),
    );
    put(sfin::SIZE, &size.to_le_bytes());
    let at = SFIN_FIXED_LEN as u16;
    put(sfin::LOGICAL_NAME, &ta(logical.len(), at));
    put(
        sfin::PHYSICAL_NAME,
        &ta(physical.len(), at + logical.len() as u16),
    );
    put(SFIN_FIXED_LEN as u64, &logical);
    put(SFIN_FIXED_LEN as u64 + logical.len() as u64, &physical);
    c
}

/// A formatted data page with a checksum: page id `FIRST_PAGE_ID`, file 1, and a body of
/// fixed pseudo-random bytes (so that a page is not all zeros).
fn template_page() -> [u8; PAGE_SIZE] {
    let mut page = [0u8; PAGE_SIZE];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in page.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    page[..96].fill(0);
    page[0] = 1; // header version
    page[1] = 1; // type: data page
    page[4..6].copy_from_slice(&pages::FLAG_HAS_CHECKSUM.to_le_bytes());
    page[PAGE_ID_OFFSET..PAGE_ID_OFFSET + 4].copy_from_slice(&FIRST_PAGE_ID.to_le_bytes());
    page[FILE_ID_OFFSET..FILE_ID_OFFSET + 2].copy_from_slice(&1u16.to_le_bytes());
    let sum = pages::page_checksum(&page);
    page[pages::CHECKSUM_OFFSET..pages::CHECKSUM_OFFSET + 4].copy_from_slice(&sum.to_le_bytes());
    page
}

/// Writes `count` pages: batches of the template with each page's id and checksum patched.
fn write_pages(out: &mut impl Write, count: u64) -> io::Result<u64> {
    let template = template_page();
    let template_sum = pages::stored_checksum(&template);
    let mut batch = Vec::with_capacity(PAGE_SIZE * PAGES_PER_BATCH);
    for _ in 0..PAGES_PER_BATCH {
        batch.extend_from_slice(&template);
    }
    let mut written = 0u64;
    let mut page_id = FIRST_PAGE_ID;
    let mut remaining = count;
    while remaining > 0 {
        let n = usize::try_from(remaining.min(PAGES_PER_BATCH as u64)).unwrap_or(PAGES_PER_BATCH);
        for page in batch.chunks_exact_mut(PAGE_SIZE).take(n) {
            // The page id word lies in sector 0, whose XOR is rotated left by 15 [note §7.5].
            let delta = (page_id ^ FIRST_PAGE_ID).rotate_left(15);
            page[PAGE_ID_OFFSET..PAGE_ID_OFFSET + 4].copy_from_slice(&page_id.to_le_bytes());
            page[pages::CHECKSUM_OFFSET..pages::CHECKSUM_OFFSET + 4]
                .copy_from_slice(&(template_sum ^ delta).to_le_bytes());
            page_id = page_id.wrapping_add(1);
        }
        let bytes = &batch[..n * PAGE_SIZE];
        out.write_all(bytes)?;
        written += bytes.len() as u64;
        remaining -= n as u64;
    }
    Ok(written)
}

fn write_zeros(out: &mut impl Write, len: u64) -> io::Result<u64> {
    let block = vec![0u8; PAGE_SIZE * PAGES_PER_BATCH];
    let mut remaining = len;
    while remaining > 0 {
        let n = usize::try_from(remaining.min(block.len() as u64)).unwrap_or(block.len());
        out.write_all(&block[..n])?;
        remaining -= n as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rules, Verdict, examine};

    fn db() -> SynthDatabase {
        SynthDatabase::new("SynthDb", TargetVersion::parse("2019").unwrap())
    }

    fn write(spec: &SynthSpec) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_synthetic(&mut out, spec).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    #[test]
    fn full_is_accepted_with_valid_pages() {
        let data = write(&SynthSpec::single(db(), SynthKind::Full, 2 << 20));
        let rules = Rules {
            verify_pages: true,
            ..Rules::default()
        };
        let report = examine(&data, &rules);
        assert_eq!(report.verdict, Verdict::Accept, "{:?}", report.findings);
        let pages = report.pages.unwrap();
        assert!(pages.checked > 200 && pages.failed == 0, "{pages:?}");
        let info = report.backup.unwrap();
        assert_eq!(info.database_version, 904);
        assert_eq!(info.database_name, "SynthDb");
        assert_eq!(info.backup_size, data.len() as u64);
        assert!(
            (data.len() as i64 - (2 << 20)).abs() < 16 * 1024,
            "{}",
            data.len()
        );
    }

    #[test]
    fn diff_log_and_stripes_are_classified() {
        let diff = write(&SynthSpec::single(db(), SynthKind::Differential, 1 << 20));
        assert_eq!(
            examine(&diff, &Rules::default()).verdict,
            Verdict::RejectDifferential
        );
        let log = write(&SynthSpec::single(db(), SynthKind::Log, 1 << 20));
        assert_eq!(examine(&log, &Rules::default()).verdict, Verdict::RejectLog);
        let stripe = write(&SynthSpec::single(db(), SynthKind::Full, 1 << 20).family(2, 3));
        let report = examine(&stripe, &Rules::default());
        assert_eq!(report.verdict, Verdict::RejectStriped);
        let info = report.backup.unwrap();
        assert_eq!((info.family_sequence, info.family_count), (2, 3));
    }

    #[test]
    fn chain_lsns_link_like_sql_server() {
        let mut chain = SynthChain::new(db());
        let full = chain.full(1 << 20);
        let diff = chain.differential(1 << 20);
        let log1 = chain.log(1 << 20);
        let log2 = chain.log(1 << 20);
        assert_eq!(diff.lsns.differential_base, Some(full.lsns.checkpoint));
        assert_eq!(diff.lsns.database_backup, Some(full.lsns.checkpoint));
        assert_eq!(log2.lsns.first, log1.lsns.last);
        let parsed = examine(&write(&diff), &Rules::default()).backup.unwrap();
        assert_eq!(parsed.differential_base_lsn, Some(full.lsns.checkpoint));
        assert_eq!(parsed.differential_base_guid, Some(full.backup_set_guid()));
        let parsed_full = examine(&write(&full), &Rules::default()).backup.unwrap();
        assert_eq!(parsed_full.backup_set_guid, Some(full.backup_set_guid()));
        assert_eq!(parsed_full.database_guid, parsed.database_guid);
    }
}
