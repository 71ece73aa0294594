//! The lmrelay benchmark: what the gateway adds over calling `lmrelay-mock` directly.
//!
//! Everything runs in one process on one multi-thread tokio runtime: the mock upstreams,
//! the gateway (bound to `127.0.0.1:0`) and the load generator. Three measurements:
//!
//! - [`load`]: open-loop latency at a fixed request rate, direct to a mock and through the
//!   gateway, non-streamed and streamed (time to last byte);
//! - [`translate`]: the pure CPU cost of translating one upstream stream chunk (decoder
//!   `feed` + encoder `push`), with no network, over long streams captured from the mocks;
//! - [`stream_cpu`]: process CPU time per streamed chunk end to end, gateway run minus direct
//!   run — an upper bound on the gateway's per-chunk cost, since it includes HTTP and syscalls.
//!
//! Run it with `scripts/bench` (a release build); results are recorded in
//! `docs/benchmarks.md`.

pub mod bodies;
pub mod capture;
pub mod cpu;
pub mod env;
pub mod http;
pub mod load;
pub mod report;
pub mod stats;
pub mod stream_cpu;
pub mod translate;
