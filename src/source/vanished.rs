//! What happens when a mapped backup shrinks under us.
//!
//! If another process truncates or rewrites the file while it is mapped (a nightly `BACKUP ...
//! WITH INIT` over the file being uploaded), reading a page that no longer exists raises SIGBUS,
//! and the default action kills the process with a bare "Bus error". `check_unchanged` catches a
//! change between parts, but not in the middle of one. This handler turns that crash into the
//! same kind of message every other error gets, and exit code 1. Exiting is all it can do: the
//! read that faulted cannot be resumed. The same signal comes from a page the kernel could not
//! read (a failing disk, an SMB or NFS share that went away), so the message names that too.
//! Bytes the kernel itself copies from the mapping into a socket fail that write with EFAULT
//! instead; that case goes through the uploader's retry, which then finds the file changed. Nothing is lost by it: checkpoints are only ever replaced
//! by an atomic rename, and the object is only completed after every part was verified.
//!
//! A fault outside the registered mappings is not ours: the handler restores the previous
//! action (the Rust runtime's, or the default) and returns, so the fault repeats and is handled
//! as before. Only async-signal-safe calls are made in the handler (atomics, `write`, `_exit`,
//! `sigaction`).
#![allow(unsafe_code)]

/// A registration of one mapped range; unregisters when dropped.
#[derive(Debug)]
pub(super) struct Registration {
    slot: Option<usize>,
}

#[cfg(target_os = "linux")]
pub(super) use linux::register;

#[cfg(not(target_os = "linux"))]
pub(super) fn register(_start: usize, _len: usize) -> Registration {
    Registration { slot: None }
}

#[cfg(not(target_os = "linux"))]
impl Drop for Registration {
    fn drop(&mut self) {}
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Registration;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Once, OnceLock};

    /// How many mappings can be guarded at once; a further one simply keeps the default crash.
    const SLOTS: usize = 64;

    /// What the user reads. No path: formatting is not async-signal-safe.
    const MESSAGE: &[u8] = b"error: the backup file shrank, was overwritten, or could not be read \
(I/O error) while bak2rds was reading it (SIGBUS on a mapped page). Nothing was completed with \
the missing bytes, and the checkpoint is intact. Wait until whatever writes the backup has \
finished (or the disk or share is healthy again), then run the same command again: a changed \
file starts a fresh upload.\n";

    /// Registered ranges: `start` is 0 for a free slot; `end` is exclusive.
    static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

    /// Marks a slot taken while its range is being written; no address equals it.
    const CLAIMED: usize = usize::MAX;

    static INSTALL: Once = Once::new();
    /// The action that was in place before ours, restored for faults that are not ours.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

    /// Guards `[start, start + len)` until the returned registration is dropped.
    pub(in crate::source) fn register(start: usize, len: usize) -> Registration {
        INSTALL.call_once(install);
        let end = start.saturating_add(len);
        // Claim a free slot, write its end, then publish its start: the handler never pairs a
        // start with another range's end.
        let slot = (0..SLOTS).find(|&slot| {
            STARTS[slot]
                .compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if let Some(slot) = slot {
            ENDS[slot].store(end, Ordering::Release);
            STARTS[slot].store(start, Ordering::Release);
        }
        Registration { slot }
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            if let Some(slot) = self.slot {
                STARTS[slot].store(0, Ordering::Release);
            }
        }
    }

    pub(super) fn is_ours(address: usize) -> bool {
        (0..SLOTS).any(|slot| {
            let start = STARTS[slot].load(Ordering::Acquire);
            if start == 0 || start == CLAIMED {
                return false;
            }
            let end = ENDS[slot].load(Ordering::Acquire);
            // The slot may have been released and claimed again between the two loads: only a
            // start that did not move pairs with this end.
            STARTS[slot].load(Ordering::Acquire) == start && address >= start && address < end
        })
    }

    fn install() {
        // SAFETY: `sigaction` is given a fully initialised struct (zeroed, then the handler, the
        // flags and an empty mask set) and a valid out-pointer for the previous action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_sigbus;
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0 {
                let _ = PREVIOUS.set(previous);
            }
        }
    }

    extern "C" fn on_sigbus(
        _signal: libc::c_int,
        info: *mut libc::siginfo_t,
        _: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid `siginfo_t` to an SA_SIGINFO handler; for a fault
        // (si_code > 0) `si_addr` is the faulting address. A SIGBUS sent by `kill` (si_code <= 0)
        // carries no address and is never ours.
        let (code, address) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
        if code > 0 && is_ours(address) {
            // SAFETY: `write` and `_exit` are async-signal-safe; the buffer is a static.
            unsafe {
                libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                libc::_exit(1);
            }
        }
        // Not ours: put the previous action back and return; the access faults again and is
        // handled the way it would have been without us.
        // SAFETY: `sigaction` and `signal` are async-signal-safe; `previous` is the struct the
        // kernel filled in when ours was installed.
        unsafe {
            match PREVIOUS.get() {
                Some(previous) => libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()),
                None => {
                    libc::signal(libc::SIGBUS, libc::SIG_DFL);
                    0
                }
            };
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::linux::{is_ours, register};

    #[test]
    fn a_registered_range_is_recognised_until_dropped() {
        let buffer = vec![0u8; 4096];
        let start = buffer.as_ptr() as usize;
        let guard = register(start, buffer.len());
        assert!(is_ours(start) && is_ours(start + 4095));
        assert!(!is_ours(start + 4096) && !is_ours(start - 1));
        drop(guard);
        assert!(!is_ours(start));
    }

    #[test]
    fn slots_are_reused_after_release() {
        let buffer = [0u8; 64];
        // Far more registrations than slots, one after another: every one must get a slot.
        for _ in 0..1000 {
            let guard = register(buffer.as_ptr() as usize, buffer.len());
            assert!(guard.slot.is_some());
        }
    }
}
