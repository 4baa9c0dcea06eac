//! The process's memory as the kernel reports it, for `vault.runtime.alloc_bytes` and
//! `vault.runtime.sys_bytes`. Rust has no garbage-collected heap to ask, so Tresor reports the
//! resident set (memory the process uses now) and the virtual size (memory it has mapped) from
//! `/proc/self/status` on Linux; elsewhere the gauges are absent.

/// Memory figures of this process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident set size (`VmRSS`): what the process occupies in RAM now.
    pub resident_bytes: u64,
    /// Virtual memory size (`VmSize`): everything the process has mapped.
    pub virtual_bytes: u64,
}

/// The longest `/proc/self/status` text parsed (the real file is a few KiB).
const MAX_STATUS_LEN: usize = 64 * 1024;

/// Reads `VmRSS` and `VmSize` (given in kB) from the text of a Linux `/proc/<pid>/status`
/// file. `None` when either line is missing or malformed, or the text is implausibly long.
pub fn parse_proc_status(text: &str) -> Option<ProcessMemory> {
    if text.len() > MAX_STATUS_LEN {
        return None;
    }
    let mut resident = None;
    let mut size = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "VmRSS" => &mut resident,
            "VmSize" => &mut size,
            _ => continue,
        };
        *slot = Some(kilobytes(value)?);
    }
    Some(ProcessMemory {
        resident_bytes: resident?,
        virtual_bytes: size?,
    })
}

/// `"   1234 kB"` as bytes.
fn kilobytes(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (Some(unit), None) if unit.eq_ignore_ascii_case("kB") => n.checked_mul(1024),
        _ => None,
    }
}

/// This process's memory now: one read of `/proc/self/status` (a kernel-generated file, no
/// disk I/O) on Linux; `None` elsewhere or when it cannot be read.
pub fn read_process_memory() -> Option<ProcessMemory> {
    if cfg!(target_os = "linux") {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_proc_status(&text)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\ttresor\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  912340 kB\nVmSize:\t  812340 kB\nVmLck:\t       0 kB\n\
        VmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\nRssAnon:\t   20000 kB\nThreads:\t9\n";

    #[test]
    fn resident_and_virtual_sizes_are_read_in_bytes() {
        assert_eq!(
            parse_proc_status(STATUS),
            Some(ProcessMemory {
                resident_bytes: 30720 * 1024,
                virtual_bytes: 812340 * 1024,
            })
        );
    }

    #[test]
    fn missing_or_malformed_lines_give_nothing() {
        assert_eq!(parse_proc_status(""), None);
        assert_eq!(parse_proc_status("VmRSS:\t 10 kB\n"), None, "no VmSize");
        assert_eq!(parse_proc_status("VmSize:\t 10 kB\n"), None, "no VmRSS");
        for bad in ["x kB", "10 MB", "10", "10 kB extra", "-1 kB", ""] {
            let text = format!("VmSize:\t 10 kB\nVmRSS:\t{bad}\n");
            assert_eq!(parse_proc_status(&text), None, "{bad:?}");
        }
        let huge = format!("VmSize:\t{} kB\nVmRSS:\t1 kB\n", u64::MAX);
        assert_eq!(parse_proc_status(&huge), None, "overflow");
        let long = format!("{STATUS}{}", "x".repeat(MAX_STATUS_LEN));
        assert_eq!(parse_proc_status(&long), None, "too long");
    }

    #[test]
    fn this_process_has_memory_on_linux() {
        if cfg!(target_os = "linux") {
            let m = read_process_memory().expect("/proc/self/status");
            assert!(m.resident_bytes > 0);
            assert!(m.virtual_bytes >= m.resident_bytes);
        }
    }
}
