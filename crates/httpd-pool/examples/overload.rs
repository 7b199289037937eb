//! Submits more work than the pool can hold and answers the overflow itself.
//!
//! A server does the same with connections: when `try_submit` hands the
//! connection back, the accept thread writes a `503` on it and closes it.
//! Run with `cargo run -p httpd-pool --example overload`.

use std::sync::mpsc;

use httpd_pool::{Builder, SubmitError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let pool = Builder::new()
        .workers(2)
        .queue_capacity(3)
        .name_prefix("example-worker")
        .build(move |request: u32| {
            // Hold every worker until all requests were offered, so the
            // overflow is deterministic: 2 running + 3 waiting are accepted.
            let _ = gate_rx.recv();
            done_tx.send(request).expect("main outlives the pool");
        })?;

    let mut refused = Vec::new();
    for request in 1..=8 {
        match pool.try_submit(request) {
            Ok(()) => {}
            Err(SubmitError::Full(request)) => refused.push(request),
            Err(err) => return Err(err.into()),
        }
    }
    let stats = pool.stats();
    println!(
        "{} busy, {} queued of {}, answered 503 to {refused:?}",
        stats.n_busy, stats.n_queued, stats.queue_capacity
    );

    drop(gate_tx);
    pool.shutdown();
    let mut served: Vec<u32> = done_rx.iter().collect();
    served.sort_unstable();
    println!("served {served:?}");
    Ok(())
}
