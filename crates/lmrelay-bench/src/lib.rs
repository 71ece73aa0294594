//! The lmrelay benchmark, run the way a user would measure a gateway: separate processes —
//! the release `lmrelay` with a config file, the release `lmrelay-mock` as the upstream, nginx
//! as a plain reverse proxy over the same mock for reference, and this process as the load
//! generator — with the proxy under test pinned to one core and the rest to another.
//!
//! - [`load`]: an open loop at a constant arrival rate (latency, HDR histograms) and a closed
//!   loop of many connections (maximum throughput);
//! - [`streams`]: concurrent spaced streams (time to first token, gaps between chunks) and
//!   thousands of slow streams held open (memory);
//! - [`servers`]: starting the mock, lmrelay and nginx, and their configs;
//! - [`procs`]: pinning, and CPU time and memory from `/proc`;
//! - [`report`] and [`doc`]: the targets, judged against nginx from the same run, and
//!   `docs/benchmarks.md`;
//! - [`profile`]: `perf` samples of lmrelay under load.
//!
//! Run it with `scripts/bench`. The criterion micro-benchmarks of the codecs are in
//! `benches/codecs.rs` (`cargo bench -p lmrelay-bench`).

pub mod bodies;
pub mod doc;
pub mod hist;
pub mod http;
pub mod load;
pub mod machine;
pub mod micro;
pub mod procs;
pub mod profile;
pub mod report;
pub mod servers;
pub mod streams;
