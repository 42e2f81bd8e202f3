//! What a burst leaves behind, handed back. glibc keeps the memory a burst freed in
//! its arenas for reuse, and returns only what lies at the top of each: after 1,000
//! salons' send burst the daemon held 117 MiB resident, 84 MiB of it free chunks
//! that `malloc_trim` gave back at once (`cargo bench --bench reach`). So every
//! few seconds, when the resident memory grew since the last look, the free pages
//! go back to the system.

use std::time::Duration;

/// glibc's arenas for the whole process, unless `MALLOC_ARENA_MAX` says otherwise.
/// By default each thread that allocates at once gets an arena of its own (up to
/// 8 per core), and each keeps pages a burst left partly used, which no trim can
/// return: after 1,000 salons' send burst the live heap was back to 11 MiB while
/// 33 MiB stayed resident (heaptrack); with two arenas, 22 MiB (`cargo bench
/// --bench reach`).
const ARENAS: i32 = 2;

/// Caps glibc's arenas: call first thing in `main`, before any other thread runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of glibc's allocator; called
        // before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

/// How often the resident memory is looked at (a read of `/proc/self/statm`).
const EVERY: Duration = Duration::from_secs(5);

/// Growth past the last trim that calls for another: less is not worth the
/// arenas' walk.
const GROWTH_KIB: u64 = 4 * 1024;

/// Runs until the process stops.
pub async fn run(logger: slog::Logger) {
    let mut settled = resident_kib();
    loop {
        actix_rt::time::sleep(EVERY).await;
        let (Some(now), Some(before)) = (resident_kib(), settled) else {
            continue;
        };
        if now < before + GROWTH_KIB {
            // Shrunk, or grew too little: what is resident now is the new mark.
            settled = Some(now.min(before));
            continue;
        }
        trim();
        settled = resident_kib();
        slog::debug!(logger, "memory: free pages returned after a burst";
            "resident_kib_before" => now, "resident_kib_after" => settled.unwrap_or(0));
    }
}

/// Returns the allocator's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

/// This process's resident memory, KiB; `None` where `/proc` cannot tell.
pub fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_kib())
}

fn page_kib() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a constant of the system.
        let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if bytes > 0 {
            return bytes as u64 / 1024;
        }
    }
    4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_returns_what_a_burst_freed() {
        // A burst on its own thread (its own arena), freed in an order that leaves
        // the arena's top in use: glibc keeps all of it until trimmed.
        let held = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..4_000).map(|i| vec![i as u8; 16 * 1024]).collect();
            let last = blocks.last().cloned();
            drop(blocks);
            last
        })
        .join()
        .expect("the burst's thread");
        let before = resident_kib().expect("/proc/self/statm");
        trim();
        let after = resident_kib().expect("/proc/self/statm");
        assert!(held.is_some());
        assert!(
            after + 16 * 1024 < before,
            "{before} KiB resident before the trim, {after} KiB after"
        );
    }
}
