//! The `loyalty` command line: parses arguments, calls the library, prints.

mod cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    return_memory_promptly();
    cli::run()
}

/// `return_memory_promptly` again before `main`, before the first
/// allocation: mimalloc commits its first arena as the option says when
/// that arena is made. (On other systems, from `main`: for arenas made
/// later.)
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static BEFORE_MAIN: extern "C" fn() = {
    extern "C" fn before_main() {
        return_memory_promptly();
    }
    before_main
};

/// mimalloc keeps freed memory for a second and commits the memory it
/// reserves in large pieces: good for short programs, but a replay holds a
/// large state for minutes, and what it frees (a month end's rows, a
/// sorted run read) stayed resident. Purging soon and committing on demand
/// took a fifth off the peak memory of a 100,000-member replay (200 → 161
/// MB) and a twentieth off a million-member one (1.14 → 1.09 GB; see
/// docs/performance.md). Purging at once saved no more than after 10 ms,
/// and cost two threads a tenth more CPU.
fn return_memory_promptly() {
    // SAFETY: options are plain integers mimalloc reads as it goes; setting
    // one is safe at any time, from any thread.
    unsafe {
        mi::mi_option_set(PURGE_DELAY, 10);
        mi::mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

use libmimalloc_sys as mi;

/// mimalloc's `mi_option_arena_eager_commit` and `mi_option_purge_delay`
/// (`mimalloc.h`, version 3, which `libmimalloc-sys` builds): the crate
/// names only some options.
const ARENA_EAGER_COMMIT: mi::mi_option_t = 4;
const PURGE_DELAY: mi::mi_option_t = 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_options_are_set_before_main() {
        // SAFETY: as in `return_memory_promptly`. The test harness's `main`
        // is not ours: only `BEFORE_MAIN` can have set them (their defaults
        // are 1000 and 2, mimalloc's options.c).
        let read = unsafe {
            (
                mi::mi_option_get(PURGE_DELAY),
                mi::mi_option_get(ARENA_EAGER_COMMIT),
            )
        };
        assert_eq!(read, (10, 0));
    }
}
