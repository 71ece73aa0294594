//! Process CPU time per streamed chunk, end to end: long streams sent one after another,
//! first directly to a mock, then through the gateway; the difference over the number of
//! upstream chunks is what the gateway spent per chunk.
//!
//! It is an upper bound on translation cost: besides decoding and encoding it includes the
//! gateway's HTTP server and client (reqwest), socket reads and writes, task wake-ups, and
//! any extra work the client does because the gateway frames differently.

use crate::cpu::process_cpu;
use crate::env::Pair;
use crate::http::{Call, HttpClient};
use crate::translate::split_chunks;
use std::time::{Duration, Instant};

/// One side (direct or gateway) of the measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side {
    pub cpu: Duration,
    pub wall: Duration,
}

/// The result for one exchange.
#[derive(Debug, Clone, Copy)]
pub struct StreamCpu {
    /// Upstream chunks per stream (counted on the direct answer).
    pub chunks_per_stream: usize,
    pub streams: usize,
    pub direct: Side,
    pub gateway: Side,
}

impl StreamCpu {
    /// Process CPU per upstream chunk of the direct run (mock + client), in µs.
    pub fn direct_us_per_chunk(&self) -> f64 {
        self.per_chunk(self.direct.cpu)
    }

    /// Process CPU per upstream chunk of the gateway run (mock + gateway + client), in µs.
    pub fn gateway_us_per_chunk(&self) -> f64 {
        self.per_chunk(self.gateway.cpu)
    }

    /// The gateway's share: the difference, in µs per chunk.
    pub fn added_us_per_chunk(&self) -> f64 {
        self.gateway_us_per_chunk() - self.direct_us_per_chunk()
    }

    fn per_chunk(&self, cpu: Duration) -> f64 {
        let chunks = (self.chunks_per_stream * self.streams).max(1);
        cpu.as_secs_f64() * 1e6 / chunks as f64
    }
}

async fn run(client: &HttpClient, call: &Call, streams: usize) -> Result<Side, String> {
    for _ in 0..3 {
        client.send_ok(call).await?;
    }
    let cpu0 = process_cpu().ok_or("cannot read /proc/self/stat")?;
    let start = Instant::now();
    for _ in 0..streams {
        client.send_ok(call).await?;
    }
    let wall = start.elapsed();
    let cpu1 = process_cpu().ok_or("cannot read /proc/self/stat")?;
    Ok(Side {
        cpu: cpu1.saturating_sub(cpu0),
        wall,
    })
}

/// Measures `pair` (a streamed exchange) with `streams` sequential streams per side.
/// `ndjson` says how the direct answer is framed, to count its chunks.
pub async fn measure(
    client: &HttpClient,
    pair: &Pair,
    streams: usize,
    ndjson: bool,
) -> Result<StreamCpu, String> {
    let sample = client.send_ok(&pair.direct).await?;
    let chunks_per_stream = split_chunks(&sample.body, ndjson).len();
    let direct = run(client, &pair.direct, streams).await?;
    let gateway = run(client, &pair.gateway, streams).await?;
    Ok(StreamCpu {
        chunks_per_stream,
        streams,
        direct,
        gateway,
    })
}
