//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when `[telemetry]` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` asks for them.
//!
//! Spans are made from what the exchange recorded, once it is over — the request's server
//! span and a client span per upstream attempt, with explicit ids, times and the GenAI
//! semantic-convention attributes — rather than from `tracing` spans on the request path:
//! a request that is not traced costs nothing, and a traced one a few small records until
//! its end. A client's W3C `traceparent` makes lmrelay's span its child (and its sampled
//! flag decides); each attempt sends upstream a `traceparent` naming the attempt's span.
//! When tracing is off, a client's `traceparent` and `tracestate` go upstream unchanged.
//! The SDK's batch processor exports on its own thread.

mod exchange;
mod traceparent;

pub use exchange::{gen_ai_provider, ExchangeTrace, Summary};
pub use traceparent::{TraceParent, TRACEPARENT, TRACESTATE};

use crate::config::TelemetryConfig;
use http::HeaderMap;
use opentelemetry::trace::Span as _;
use opentelemetry::trace::{
    SamplingDecision, SamplingResult, SpanContext, TraceContextExt as _, TraceFlags, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::sync::Arc;

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TelemetryError(String);

/// The trace pipeline: the SDK's provider (its batch processor and exporter) and a tracer.
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    sample_ratio: f64,
}

// === impl Telemetry ===

impl Telemetry {
    /// Starts the exporter (its thread and HTTP client).
    pub fn start(cfg: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary);
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder.with_endpoint(traces_url(endpoint));
        }
        if !cfg.headers.is_empty() {
            builder = builder.with_headers(
                cfg.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                    .collect(),
            );
        }
        let exporter = builder.build().map_err(|e| TelemetryError(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(cfg.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "lmrelay");
        Ok(Telemetry {
            provider,
            tracer,
            sample_ratio: cfg.sample_ratio,
        })
    }

    /// The trace of a new exchange, when it is sampled: the client's `traceparent` decides
    /// when it sent one, `sample_ratio` otherwise.
    pub fn begin(&self, headers: &HeaderMap) -> Option<Arc<ExchangeTrace>> {
        let parent = headers
            .get(TRACEPARENT)
            .and_then(|v| TraceParent::parse(v.as_bytes()));
        let sampled = match parent {
            Some(p) => p.sampled,
            None => self.sample_ratio >= 1.0 || fastrand::f64() < self.sample_ratio,
        };
        sampled.then(|| Arc::new(ExchangeTrace::new(parent)))
    }

    /// Ends an exchange's spans and hands them to the exporter.
    pub fn finish(&self, trace: &ExchangeTrace, summary: &Summary<'_>) {
        for span in trace.spans(summary) {
            let parent = match span.parent {
                Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                    trace.trace_id,
                    p,
                    TraceFlags::SAMPLED,
                    true,
                    TraceState::default(),
                )),
                None => Context::new(),
            };
            let builder = self
                .tracer
                .span_builder(span.name)
                .with_trace_id(trace.trace_id)
                .with_span_id(span.span_id)
                .with_kind(span.kind)
                .with_start_time(span.start)
                .with_attributes(span.attributes)
                .with_status(span.status)
                .with_sampling_result(SamplingResult {
                    decision: SamplingDecision::RecordAndSample,
                    attributes: Vec::new(),
                    trace_state: TraceState::default(),
                });
            self.tracer
                .build_with_context(builder, &parent)
                .end_with_timestamp(span.end);
        }
    }

    /// Exports what is queued (at shutdown).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("the trace exporter did not shut down cleanly: {e}");
        }
    }
}

/// The OTLP/HTTP traces URL under a base endpoint (as `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// read): `/v1/traces` is appended unless the path already ends with it.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(
            super::traces_url("http://c:4318"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            super::traces_url("http://c:4318/"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            super::traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
