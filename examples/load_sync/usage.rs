//! What the machine was doing: CPU time of a process (from `/proc/PID/stat`), the load
//! average (`/proc/loadavg`) and CPU pressure (`/proc/pressure/cpu`: how long some task
//! waited for a core). Linux only; elsewhere all read as zero.

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`: 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of the process whose stat file is at `path`.
pub fn cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0.0 };
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line are 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// CPU seconds of this process.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0.0)
}

/// Seconds, summed since boot, during which at least one task waited for a core (the
/// `some` line of `/proc/pressure/cpu`, kept in microseconds).
pub fn cpu_pressure_seconds() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/pressure/cpu") else { return 0.0 };
    text.lines()
        .find(|l| l.starts_with("some"))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("total=")))
        .and_then(|t| t.parse::<f64>().ok())
        .map_or(0.0, |us| us / 1e6)
}
