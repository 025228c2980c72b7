//! Bounds on what one command may ask of the machine. They are constants,
//! the same on every machine: a command is refused, with the reason, on
//! every machine or on none, and what a command writes never depends on the
//! machine it ran on.

/// The most threads `run --threads` and `simulate --threads` take. More
/// threads than cores only add memory and hand-overs (each of a run's
/// shards is a thread with its own engine and buffers), and 256 is more
/// cores than one machine usually has; a fixed number rather than a
/// multiple of this machine's cores, so that the same command is accepted
/// everywhere.
pub const MOST_THREADS: u16 = 256;

/// The most points types a program may declare: 65,536, far more than a
/// program has (most have one or two), so that clock work names one in two
/// bytes (`engine::DuePoints`): a million members' queued work was a tenth
/// of their memory.
pub const MOST_POINTS_TYPES: usize = 1 << 16;

/// The most tiers a program may declare: 65,536, far more than a program
/// has (most have three to five), so that a member keeps its tier and its
/// floor in two bytes each.
pub const MOST_TIERS: usize = 1 << 16;

/// The most members (and pool accounts) one engine holds: 2^32, more than
/// a machine holds (each takes a few hundred bytes: over a terabyte), so
/// that queued clock work (`engine::Due`) and the index of members' ids
/// name a member's slot in four bytes: a million members queue two million
/// items. An enrolment past it is refused.
pub const MOST_MEMBERS: u64 = 1 << 32;

/// The most memory a simulation or a generated stream may be estimated to
/// need before it starts: 64 GiB, more than a workstation has and what a
/// large server gives one job. The estimates (see `simulate::footprint`
/// and `gen::plan`) count what the command keeps per member, per run and
/// per event; they are the least it needs, so a command below the bound
/// may still not fit a smaller machine, but one above it cannot fit this
/// bound, and is refused before it allocates anything.
pub const MEMORY_BOUND: u64 = 64 << 30;

/// `Err` with `what` needs about N GiB when `bytes` is past the bound.
pub fn within_memory(bytes: u64, what: impl FnOnce() -> String) -> Result<(), String> {
    if bytes <= MEMORY_BOUND {
        return Ok(());
    }
    Err(format!(
        "{} need about {}, more than the {} a command may use",
        what(),
        gib(bytes),
        gib(MEMORY_BOUND)
    ))
}

/// Bytes in GiB, to a tenth below 10 GiB.
fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib < 10.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{gib:.0} GiB")
    }
}
