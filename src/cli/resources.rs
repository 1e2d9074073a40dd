//! What a benchmark run costs this process: CPU time and resident memory, read from Linux's
//! `/proc/self` (no `unsafe` libc calls needed). On other systems the figures are absent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, which is 100 on every architecture
/// (`man 5 proc`, fields utime/stime).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system, all threads) this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// The value of the `name: value` line called `name` in a Linux `/proc` file such as
/// `/proc/cpuinfo` or `/proc/self/status` (the first such line: cpuinfo repeats per core).
fn proc_field(path: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_string())
    })
}

/// The CPU as Linux reports it: x86's `model name`, then its family and model numbers. Benchmark
/// figures belong to a CPU, machines of one size come with different ones, and a virtual CPU's
/// name can be as generic as "AMD EPYC" for two generations that perform differently.
pub fn cpu_model() -> Option<String> {
    cpu_model_from("/proc/cpuinfo")
}

fn cpu_model_from(cpuinfo: &str) -> Option<String> {
    let name = proc_field(cpuinfo, "model name")?;
    match (
        proc_field(cpuinfo, "cpu family"),
        proc_field(cpuinfo, "model"),
    ) {
        (Some(family), Some(model)) => Some(format!("{name} (family {family}, model {model})")),
        _ => Some(name),
    }
}

/// A field of `/proc/self/status` in bytes (the file gives kB).
fn status_bytes(field: &str) -> Option<u64> {
    let value = proc_field("/proc/self/status", field)?;
    let kb: u64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// Anonymous resident memory now: heap and stacks, without the mapped file's page-cache pages
/// (those are clean, shared and reclaimable, and the mmap design relies on them).
pub fn anonymous_rss() -> Option<u64> {
    status_bytes("RssAnon")
}

/// Samples anonymous RSS in the background and keeps the peak.
#[derive(Debug)]
pub struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    /// Starts sampling every `every`.
    pub fn start(every: Duration) -> Self {
        let peak = Arc::new(AtomicU64::new(anonymous_rss().unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(now) = anonymous_rss() {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(every);
                }
            })
        };
        PeakSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns the peak in bytes.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds().is_some());
            assert!(anonymous_rss().is_some_and(|bytes| bytes > 0));
        }
    }

    #[test]
    fn a_proc_field_is_found_by_its_whole_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status");
        std::fs::write(
            &path,
            "RssAnonymous:\t1 kB\nRssAnon:\t   2048 kB\nmodel name\t: CPU A\nmodel name\t: CPU B\n",
        )
        .unwrap();
        let path = path.to_str().unwrap();
        assert_eq!(proc_field(path, "RssAnon").as_deref(), Some("2048 kB"));
        assert_eq!(proc_field(path, "model name").as_deref(), Some("CPU A"));
        assert_eq!(proc_field(path, "Rss"), None);
        assert_eq!(proc_field("/nonexistent/status", "RssAnon"), None);
    }

    #[test]
    fn the_cpu_is_named_with_its_family_and_model_where_linux_gives_them() {
        let dir = tempfile::tempdir().unwrap();
        let x86 = dir.path().join("x86");
        std::fs::write(
            &x86,
            "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n",
        )
        .unwrap();
        assert_eq!(
            cpu_model_from(x86.to_str().unwrap()).as_deref(),
            Some("AMD EPYC (family 25, model 17)")
        );
        let name_only = dir.path().join("name-only");
        std::fs::write(&name_only, "model name\t: CPU A\n").unwrap();
        assert_eq!(
            cpu_model_from(name_only.to_str().unwrap()).as_deref(),
            Some("CPU A")
        );
        assert_eq!(cpu_model_from("/nonexistent/cpuinfo"), None);
    }

    #[test]
    fn the_sampler_sees_a_large_allocation() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let sampler = PeakSampler::start(Duration::from_millis(5));
        let before = anonymous_rss().unwrap_or(0);
        let block = vec![1u8; 64 << 20];
        std::thread::sleep(Duration::from_millis(50));
        let peak = sampler.finish();
        assert!(block.iter().all(|b| *b == 1));
        assert!(peak >= before + (60 << 20), "peak {peak} before {before}");
    }
}
