//! Signatures per second of `ociauth::signer::sign` (a GET to Object Storage, RSA-2048), on one
//! thread and on every core (plain std threads, each signing in a loop until a fixed deadline).
//!
//! `cargo bench -p ociauth --bench sign_throughput -- [--seconds N] [--threads N]`
//! (default 5 s, all cores). `bench/sign_throughput.sh` runs it beside `openssl speed` and prints
//! ratios. Output: one `key=value` line per result, then a human summary.

use std::time::{Duration, Instant, SystemTime};

use ociauth::keys::PrivateKey;
use ociauth::signer::{self, Body, Request, SignOptions};

const DATE: &str = "Sat, 28 Nov 2026 16:59:50 GMT";

/// Sign in a loop until `dur` has passed; the number of signatures made.
fn run(key: &PrivateKey, key_id: &str, dur: Duration) -> u64 {
    let headers = [("date", DATE)];
    let req = Request {
        method: "GET",
        target: "/n",
        host: "objectstorage.us-ashburn-1.oraclecloud.com",
        headers: &headers,
        body: Body::default(),
    };
    let opts = SignOptions::default();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..16 {
            match signer::sign(&req, &opts, key_id, key, SystemTime::UNIX_EPOCH) {
                Ok(s) => {
                    std::hint::black_box(s);
                }
                Err(e) => panic!("signing failed: {e}"),
            }
            n += 1;
        }
    }
    n
}

/// Raw `PrivateKey::sign_sha256` of a 142-byte message (no signing string, no header) for `dur`.
fn raw_rate(key: &PrivateKey, dur: Duration) -> f64 {
    let msg = [b'x'; 142];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..16 {
            match key.sign_sha256(std::hint::black_box(&msg)) {
                Ok(s) => {
                    std::hint::black_box(s);
                }
                Err(e) => panic!("signing failed: {e}"),
            }
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Signatures per second with `threads` threads signing for `dur`.
fn rate(key: &PrivateKey, key_id: &str, threads: usize, dur: Duration) -> f64 {
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| run(key, key_id, dur)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a signing thread panicked"))
            })
            .sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = arg(&args, "--seconds")
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("--seconds takes a number, not {s}"))
        })
        .unwrap_or(5.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = arg(&args, "--threads")
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("--threads takes a number, not {s}"))
        })
        .unwrap_or(cores);
    let dur = Duration::from_secs_f64(seconds);

    let key = PrivateKey::generate().unwrap_or_else(|e| panic!("cannot generate a key: {e}"));
    let key_id = format!(
        "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/{}",
        key.fingerprint()
    );
    // Warm up (page in code, settle clocks) for a quarter of a second.
    run(&key, &key_id, Duration::from_millis(250));

    let one = rate(&key, &key_id, 1, dur);
    let all = rate(&key, &key_id, threads, dur);
    let raw = raw_rate(&key, dur);
    println!("ociauth_sign_1t={one:.1}");
    println!("ociauth_raw_1t={raw:.1}");
    println!("ociauth_sign_threads={threads}");
    println!("ociauth_sign_nt={all:.1}");
    println!(
        "ociauth signer::sign (GET, RSA-2048, {seconds} s each): {one:.0} sig/s on 1 thread, \
         {all:.0} sig/s on {threads} threads ({:.2}x)",
        all / one
    );
    println!("ociauth PrivateKey::sign_sha256 (raw RSA, 1 thread): {raw:.0} sig/s");
}
