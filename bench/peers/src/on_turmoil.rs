//! The workload on turmoil 0.7: a server host and a client host over turmoil's simulated
//! network, with every message taking exactly 1 ms (netsim's link latency) and no loss.
//! turmoil moves messages (SYN, data, FIN), not segments: there is no TIME_WAIT, no ACK of
//! data and no retransmission, and each host is a tokio runtime stepped 1 ms at a time.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

use crate::{MESSAGE_BYTES, Outcome};

const PORT: u16 = 80;
/// Ticks the server gets after the client finished to close the last connection (it needs 1).
const STEPS_AFTER_CLIENT_MAX: u32 = 100;

/// Runs `n` sequential short connections and reports what was done.
pub fn run(n: u64) -> Outcome {
    let latency = Duration::from_millis(1);
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH)
        .rng_seed(1)
        .min_message_latency(latency)
        .max_message_latency(latency)
        // A connection takes a few simulated milliseconds; a second each is ample, and the
        // limit stays a clear error rather than a hang.
        .simulation_duration(Duration::from_secs(n + 60))
        .build();

    let served = Rc::new(Cell::new(0u64));
    let served_in_host = Rc::clone(&served);
    sim.host("server", move || {
        let served = Rc::clone(&served_in_host);
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                let mut request = [0u8; MESSAGE_BYTES];
                stream.read_exact(&mut request).await?;
                stream.write_all(&[b's'; MESSAGE_BYTES]).await?;
                // The client closes first; the server closes on end of file.
                let mut rest = [0u8; 1];
                let eof = stream.read(&mut rest).await?;
                assert_eq!(eof, 0, "turmoil: the client sent more than its request");
                drop(stream);
                served.set(served.get() + 1);
            }
        }
    });

    let completed = Rc::new(Cell::new(0u64));
    let completed_in_client = Rc::clone(&completed);
    sim.client("client", async move {
        for _ in 0..n {
            let mut stream = TcpStream::connect(("server", PORT)).await?;
            stream.write_all(&[b'c'; MESSAGE_BYTES]).await?;
            let mut response = [0u8; MESSAGE_BYTES];
            stream.read_exact(&mut response).await?;
            drop(stream);
            completed_in_client.set(completed_in_client.get() + 1);
        }
        Ok(())
    });

    let start = Instant::now();
    sim.run()
        .unwrap_or_else(|e| panic!("turmoil: the simulation failed: {e}"));
    // `run` returns when the client is done; the client's FIN of the last connection is then
    // still in flight to the server. A few more 1 ms ticks let the server see it and close.
    for _ in 0..STEPS_AFTER_CLIENT_MAX {
        if served.get() == n {
            break;
        }
        sim.step()
            .unwrap_or_else(|e| panic!("turmoil: the simulation failed: {e}"));
    }
    let wall = start.elapsed();
    Outcome {
        completed: completed.get(),
        served: served.get(),
        wall,
        detail: format!(
            "{:.1} simulated ms a connection",
            sim.elapsed().as_secs_f64() * 1000.0 / n as f64
        ),
    }
}
