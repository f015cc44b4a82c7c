//! CLOCK_MONOTONIC for the programs built around the reference (`bench.rs`,
//! `torture_holder.rs`): the clock the Swift workers stamp with, so that times
//! compare across processes. Every crate root `ReferenceProgram` generates pulls
//! it in with `#[path = "..."] mod monotonic;`.

use std::time::Duration;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
}

const CLOCK_MONOTONIC: i32 = 1;

pub fn monotonic_ns() -> u64 {
    let mut time = Timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut time) };
    time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64
}

pub fn sleep_until(deadline: u64) {
    let now = monotonic_ns();
    if deadline > now {
        std::thread::sleep(Duration::from_nanos(deadline - now));
    }
}
