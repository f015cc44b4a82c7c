//! Drives the reference implementation's `WriterLock` from the command line, for
//! RVFLock's interoperability tests.
//!
//! This is our own code. `ReferenceProgram` (Sources/RVFLockReference) generates a
//! crate root in a temporary folder that pulls in the reference with
//! `#[path = "..."] mod locking;` and this file as `mod program;`, and compiles it
//! with rustc. Nothing of the reference is copied here.
//!
//!   refharness hold PATH MS   acquire, print "acquired PID", sleep MS, release; print "released"
//!                             if the lock file still had this holder's writer id then, else "lost"
//!   refharness try PATH       acquire and release at once: print "acquired" (exit 0) or "busy" (exit 3)
//!
//! The reference takes its hostname from $HOSTNAME: the tests set it.

use crate::locking;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::exit;
use std::thread::sleep;
use std::time::Duration;

fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", line);
    let _ = out.flush();
}

fn is_contention(kind: ErrorKind) -> bool {
    // WouldBlock: a live holder; AlreadyExists: another process re-created the
    // lock between the reference breaking a stale one and creating its own.
    kind == ErrorKind::WouldBlock || kind == ErrorKind::AlreadyExists
}

/// The reference's lock on `data_path`, or the end of this process: `busy` (exit 3)
/// when another holds it, `error ...` (exit 1) when acquiring failed otherwise.
fn acquire_or_exit(data_path: &Path) -> locking::WriterLock {
    match locking::WriterLock::acquire(data_path) {
        Ok(lock) => lock,
        Err(error) if is_contention(error.kind()) => {
            say("busy");
            exit(3);
        }
        Err(error) => {
            say(&format!("error {}", error));
            exit(1);
        }
    }
}

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: refharness hold PATH MS | try PATH");
        exit(64);
    }
    let data_path = Path::new(&args[2]);
    match args[1].as_str() {
        "hold" => {
            let milliseconds: u64 = args.get(3).and_then(|text| text.parse().ok()).unwrap_or(1000);
            let lock = acquire_or_exit(data_path);
            say(&format!("acquired {}", std::process::id()));
            sleep(Duration::from_millis(milliseconds));
            let still_ours = lock.is_valid();
            let _ = lock.release();
            say(if still_ours { "released" } else { "lost" });
        }
        "try" => {
            let lock = acquire_or_exit(data_path);
            say("acquired");
            let _ = lock.release();
        }
        mode => {
            eprintln!("refharness: unknown mode {}", mode);
            exit(64);
        }
    }
}
