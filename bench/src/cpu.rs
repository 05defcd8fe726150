//! Process CPU time and peak memory, from the kernel.

#![allow(unsafe_code)] // getrusage(2) through libc, reading into a zeroed struct it fills.

use std::time::Duration;

fn timeval(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u32::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

/// User plus system CPU time of this process so far (all threads), or zero if the kernel
/// refuses to say (it never does on Linux for `RUSAGE_SELF`).
pub(crate) fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain data, valid when zeroed, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// Peak resident set size of this process in KiB (`VmHWM`), if /proc says.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_kib(&status, "VmHWM:")
}

/// A `Name:   123 kB` field of /proc/*/status.
pub(crate) fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_field_reads_the_kib_value_of_the_named_line() {
        let status = "Name:\tbench\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM:"), Some(4321));
        assert_eq!(status_field_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn process_cpu_grows_while_spinning() {
        let before = process_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while process_cpu() == before && start.elapsed() < Duration::from_secs(10) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            std::hint::black_box(x);
        }
        assert!(process_cpu() > before);
    }
}
