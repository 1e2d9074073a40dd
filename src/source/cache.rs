//! Whether pages of the mapping are in the page cache (`mincore`), and reading them in ahead of
//! use (`MADV_POPULATE_READ`): the two calls behind the upload's read-ahead. Linux only; on other
//! systems nothing is read ahead and every range counts as cached.
#![allow(unsafe_code)]

use std::ops::Range;
use std::path::Path;

use memmap2::Mmap;

/// Whether `mincore` tells this process the truth about the file's pages. Since Linux 5.0 it
/// reports every page as resident unless the caller owns the file or may write to it (so that
/// page-cache state does not leak between users): a backup owned by the database's account and
/// uploaded by another would otherwise always look cached, and never be read ahead.
#[cfg(target_os = "linux")]
pub(super) fn residency_visible(path: &Path, owner: u32) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 || euid == owner {
        return true;
    }
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; faccessat only
    // checks permissions (the file is not opened for writing).
    unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn residency_visible(_path: &Path, _owner: u32) -> bool {
    true
}

/// Whether the first and the last page of `range` (byte offsets into `map`) are in the page
/// cache. Two pages stand for the range: the kernel caches a file in runs, and a range cached
/// only in the middle is sent as before, faulted in by the sender. One `mincore` of a whole
/// 8 MiB window cost about 0.25 ms (measured), a tenth of the time to send it from memory.
#[cfg(target_os = "linux")]
pub(super) fn ends_cached(map: &Mmap, range: Range<usize>) -> bool {
    if range.is_empty() {
        return true;
    }
    page_cached(map, range.start) && page_cached(map, range.end - 1)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn ends_cached(_map: &Mmap, _range: Range<usize>) -> bool {
    true
}

/// Whether the page holding byte `offset` of `map` is in the page cache.
#[cfg(target_os = "linux")]
fn page_cached(map: &Mmap, offset: usize) -> bool {
    let page = page_size();
    let aligned = offset / page * page;
    if offset >= map.len() {
        return false;
    }
    let mut residency = 0u8;
    // SAFETY: `aligned` is a multiple of the system's page size and lies inside the live
    // mapping (the mapping starts on a page boundary and `offset < map.len()`); one page needs
    // a one-byte vector. mincore only reads the page tables and writes that byte.
    let code = unsafe {
        libc::mincore(
            map.as_ptr().add(aligned).cast_mut().cast(),
            1,
            &mut residency,
        )
    };
    code == 0 && residency & 1 == 1
}

/// Maps `range` of `map`, reading from disk what the page cache lacks. A range past the file's
/// end (a file cut short meanwhile) returns an error instead of raising SIGBUS.
#[cfg(target_os = "linux")]
pub(super) fn populate(map: &Mmap, range: Range<usize>) -> std::io::Result<()> {
    map.advise_range(memmap2::Advice::PopulateRead, range.start, range.len())
}

#[cfg(not(target_os = "linux"))]
pub(super) fn populate(_map: &Mmap, _range: Range<usize>) -> std::io::Result<()> {
    Ok(())
}

/// The system's page size (4 KiB on x86-64, 16 or 64 KiB on some ARM kernels).
pub(super) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions; a failure returns -1, handled below.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|size| size.is_power_of_two())
            .unwrap_or(4096)
    })
}
