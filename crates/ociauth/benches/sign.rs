//! Criterion timings of `signer::sign` with an RSA-2048 key: a GET (`date (request-target) host`)
//! and a 1 KiB POST (body hashed and signed too). Run: `cargo bench -p ociauth --bench sign`.
//! Results and how to read them: BENCHMARKS.md.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ociauth::keys::PrivateKey;
use ociauth::signer::{self, Body, Request, SignOptions};

const DATE: &str = "Sat, 28 Nov 2026 16:59:50 GMT";
const HOST: &str = "objectstorage.us-ashburn-1.oraclecloud.com";

fn bench_sign(c: &mut Criterion) {
    let key = match PrivateKey::generate() {
        Ok(k) => k,
        Err(e) => panic!("cannot generate an RSA-2048 key: {e}"),
    };
    let key_id = format!(
        "ocid1.tenancy.oc1..aaaaaaaaexample/ocid1.user.oc1..aaaaaaaaexample/{}",
        key.fingerprint()
    );
    let opts = SignOptions::default();
    let headers = [("date", DATE)];
    let body: Vec<u8> = (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect();

    let mut g = c.benchmark_group("signer::sign rsa2048");
    g.throughput(Throughput::Elements(1));
    g.bench_function("GET /n", |b| {
        let req = Request {
            method: "GET",
            target: "/n",
            host: HOST,
            headers: &headers,
            body: Body::default(),
        };
        b.iter(|| {
            signer::sign(
                black_box(&req),
                &opts,
                &key_id,
                &key,
                SystemTime::UNIX_EPOCH,
            )
        })
    });
    g.bench_function("POST 1 KiB", |b| {
        let req = Request {
            method: "POST",
            target: "/n/ns/b",
            host: HOST,
            headers: &headers,
            body: Body::Bytes(&body),
        };
        b.iter(|| {
            signer::sign(
                black_box(&req),
                &opts,
                &key_id,
                &key,
                SystemTime::UNIX_EPOCH,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
