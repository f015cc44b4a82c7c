//! An alias reference holder for rvflock-torture: the reference implementation's
//! `WriterLock` taking the lock, holding it and writing records the way the
//! harness's Swift workers do, so that the same verifier judges it.
//!
//! This is our own code. `ReferenceProgram` (Sources/RVFLockReference) generates a
//! crate root in a temporary folder that pulls in the reference with
//! `#[path = "..."] mod locking;` and this file as `mod program;`, and compiles it
//! with rustc. Nothing of the reference is copied here.
//!
//! Usage (times are CLOCK_MONOTONIC nanoseconds, shared with the Swift workers):
//!   reference-holder DATA LOG WRITER INCARNATION HOLD_MS GIVE_UP_MS
//!
//! The reference writes `$HOSTNAME` into its record: the harness sets it to an
//! alias of this host, which the Swift workers also have in their `$HOSTNAME`.
//! The reference cannot wait, so this retries `acquire` (sleeping 50 µs between
//! tries) for at most GIVE_UP_MS. Once it holds the lock, it appends a record to
//! DATA every 200 ms for HOLD_MS, checking `is_valid()` before each, then
//! releases. It logs to LOG, one `write()` per line, as the workers do:
//!   A t wW.I.0 pid try waitedNs writerID   acquired (writerID: the lock file's, in hex)
//!   L t wW.I.0 pid                          the lock file is no longer this holder's: stop writing
//!   R t wW.I.0 pid                          about to release
//!   G t wW pid waitedNs                     gave up: the lock never came free
//!   E t wW pid reference-KIND               acquire failed otherwise (KIND: io::ErrorKind)

use crate::locking::WriterLock;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::time::Duration;

use crate::monotonic::{monotonic_ns, sleep_until};

const RECORD_INTERVAL_NS: u64 = 200_000_000;

fn usage() -> ! {
    eprintln!("usage: reference-holder DATA LOG WRITER INCARNATION HOLD_MS GIVE_UP_MS");
    std::process::exit(64)
}

fn number(arguments: &[String], index: usize) -> u64 {
    arguments.get(index).and_then(|text| text.parse().ok()).unwrap_or_else(|| usage())
}

/// IEEE CRC32, as the harness's data records carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// One 64-byte data record in the harness's format (`DataRecord.swift`).
fn data_record(writer: u64, incarnation: u64, sequence: u64, time: u64) -> Vec<u8> {
    let mut body = format!("w={} i={} a=0 s={} t={:016x}", writer, incarnation, sequence, time).into_bytes();
    assert!(body.len() <= 53, "data record fields too long");
    body.resize(53, b' ');
    let crc = crc32(&body);
    body.extend_from_slice(format!("c={:08x}\n", crc).as_bytes());
    body
}

/// The writer id in the lock file now, in hex, as the Swift workers log theirs.
fn lock_file_writer_id(data: &Path) -> String {
    let mut path = data.as_os_str().to_os_string();
    path.push(".lock");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 0x60 => bytes[0x50..0x60].iter().map(|b| format!("{:02x}", b)).collect(),
        _ => "unreadable".to_string(),
    }
}

pub fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.len() != 7 {
        usage();
    }
    let data = Path::new(&arguments[1]);
    let writer = number(&arguments, 3);
    let incarnation = number(&arguments, 4);
    let hold_ns = number(&arguments, 5) * 1_000_000;
    let give_up_ns = number(&arguments, 6) * 1_000_000;
    let mut log = OpenOptions::new().append(true).create(true).open(&arguments[2]).expect("cannot open the event log");
    let mut data_file = OpenOptions::new().append(true).create(true).open(data).expect("cannot open the data file");
    let pid = std::process::id();
    let key = format!("w{}.{}.0", writer, incarnation);
    let mut line = |text: String| {
        let _ = log.write(text.as_bytes());
    };

    let wanted_since = monotonic_ns();
    let lock = loop {
        match WriterLock::acquire(data) {
            Ok(lock) => break lock,
            // WouldBlock: a live holder; AlreadyExists: the path was taken again between
            // the reference's judgement and its second create.
            Err(error) if error.kind() == ErrorKind::WouldBlock || error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => {
                line(format!("E {} w{} {} reference-{:?}\n", monotonic_ns(), writer, pid, error.kind()));
                return;
            }
        }
        if monotonic_ns() - wanted_since >= give_up_ns {
            line(format!("G {} w{} {} {}\n", monotonic_ns(), writer, pid, monotonic_ns() - wanted_since));
            return;
        }
        std::thread::sleep(Duration::from_micros(50));
    };
    let acquired = monotonic_ns();
    line(format!("A {} {} {} try {} {}\n", acquired, key, pid, acquired - wanted_since, lock_file_writer_id(data)));

    let mut sequence = 0;
    let mut next = acquired;
    while next < acquired + hold_ns {
        sleep_until(next);
        if !lock.is_valid() {
            line(format!("L {} {} {}\n", monotonic_ns(), key, pid));
            break;
        }
        let _ = data_file.write(&data_record(writer, incarnation, sequence, monotonic_ns()));
        sequence += 1;
        next += RECORD_INTERVAL_NS;
    }
    sleep_until(acquired + hold_ns);
    line(format!("R {} {} {}\n", monotonic_ns(), key, pid));
    let _ = lock.release();
}
