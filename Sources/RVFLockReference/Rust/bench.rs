//! Benchmark harness for the reference lock (`shared/seed/locking.rs`).
//!
//! This is our own code. `ReferenceProgram` (Sources/RVFLockReference) generates a
//! crate root in a temporary folder that pulls in the reference with
//! `#[path = "..."] mod locking;` and this file as `mod program;`, and compiles it
//! with `rustc -O --edition 2021`; `rvflock-bench` runs it as a worker. Nothing of
//! the reference is copied here.
//!
//! Usage (all times CLOCK_MONOTONIC nanoseconds, shared with the Swift workers):
//!   uncontended DATA WARMUP ITERATIONS        -> `samples NS NS ...` (one acquire + release each)
//!   serve DATA                                -> per stdin line N: N acquire + release, `samples NS ...`
//!   contend DATA START END HOLD_US ID LOG POLL_US -> `acquisitions N`, `waits NS NS ...`
//!                                               (first try to success, each acquisition);
//!                                               appends `+ID`/`-ID` to LOG
//!   hold DATA                                 -> `acquired PID`, then holds until killed
//!   wait DATA POLL_US TIMEOUT_MS              -> `ready`, then `acquired at-ns T` or `timed-out`
//!
//! The reference cannot wait: `acquire` fails at once when the lock is taken,
//! so the loops here retry after sleeping POLL_US, as every caller of it must.

use crate::locking::WriterLock;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::monotonic::{monotonic_ns, sleep_until};

fn number(arguments: &[String], index: usize) -> u64 {
    arguments
        .get(index)
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| usage())
}

fn usage() -> ! {
    eprintln!("usage: reference-bench uncontended|contend|hold|wait DATA ...");
    std::process::exit(64)
}

fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", line);
    let _ = out.flush();
}

pub fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let data = Path::new(arguments.get(2).unwrap_or_else(|| usage()));
    match arguments.get(1).map(String::as_str) {
        Some("uncontended") => uncontended(data, number(&arguments, 3), number(&arguments, 4)),
        Some("serve") => serve(data),
        Some("contend") => contend(data, &arguments),
        Some("hold") => hold(data),
        Some("wait") => wait(data, number(&arguments, 3), number(&arguments, 4)),
        _ => usage(),
    }
}

fn acquire_release(data: &Path) {
    let lock = WriterLock::acquire(data).expect("the reference could not take a free lock");
    lock.release().expect("the reference could not release its lock");
}

fn uncontended(data: &Path, warmup: u64, iterations: u64) {
    for _ in 0..warmup {
        acquire_release(data);
    }
    say(&timed(data, iterations));
}

fn timed(data: &Path, iterations: u64) -> String {
    let mut line = String::from("samples");
    for _ in 0..iterations {
        let start = monotonic_ns();
        acquire_release(data);
        line.push_str(&format!(" {}", monotonic_ns() - start));
    }
    line
}

/// Blocks of operations on request, so that the caller can interleave them
/// finely with its own variants while this process stays warm.
fn serve(data: &Path) {
    let mut request = String::new();
    loop {
        request.clear();
        match std::io::stdin().read_line(&mut request) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let count: u64 = request.trim().parse().unwrap_or_else(|_| usage());
        say(&timed(data, count));
    }
}

fn contend(data: &Path, arguments: &[String]) {
    let start = number(arguments, 3);
    let end = number(arguments, 4);
    let hold_us = number(arguments, 5);
    let id = number(arguments, 6);
    let log_path = arguments.get(7).unwrap_or_else(|| usage());
    let poll_us = number(arguments, 8);
    let mut log = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log_path)
        .expect("cannot open the append log");
    let enter = format!("+{}\n", id);
    let leave = format!("-{}\n", id);
    sleep_until(start);
    let mut acquisitions = 0u64;
    let mut waits = String::from("waits");
    // A wait begins where the Swift workers start theirs: when the loop asks again after a release.
    let mut asked_at = monotonic_ns();
    while monotonic_ns() < end {
        match WriterLock::acquire(data) {
            Ok(lock) => {
                waits.push_str(&format!(" {}", monotonic_ns() - asked_at));
                // One write each, so that O_APPEND keeps every line whole and in order.
                let _ = log.write(enter.as_bytes());
                if hold_us > 0 {
                    std::thread::sleep(Duration::from_micros(hold_us));
                }
                let _ = log.write(leave.as_bytes());
                let _ = lock.release();
                acquisitions += 1;
                asked_at = monotonic_ns();
            }
            Err(_) => std::thread::sleep(Duration::from_micros(poll_us)),
        }
    }
    say(&format!("acquisitions {}", acquisitions));
    say(&waits);
}

fn hold(data: &Path) {
    loop {
        if let Ok(lock) = WriterLock::acquire(data) {
            say(&format!("acquired {}", std::process::id()));
            loop {
                std::thread::sleep(Duration::from_secs(3600));
                let _ = &lock;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait(data: &Path, poll_us: u64, timeout_ms: u64) {
    say("ready");
    let start = monotonic_ns();
    let deadline = start + timeout_ms * 1_000_000;
    while monotonic_ns() < deadline {
        if let Ok(lock) = WriterLock::acquire(data) {
            let acquired = monotonic_ns();
            say(&format!("acquired at-ns {} waited-ns {}", acquired, acquired - start));
            let _ = lock.release();
            return;
        }
        std::thread::sleep(Duration::from_micros(poll_us));
    }
    say(&format!("timed-out waited-ns {}", monotonic_ns() - start));
}
