//! OpenTelemetry traces: a small OTLP/HTTP receiver gets, for each exchange, lmrelay's server
//! span (a child of the client's `traceparent`, in the client's trace) and a client span per
//! upstream attempt, with the GenAI attributes; upstreams see a `traceparent` naming their
//! attempt's span; an unsampled client trace is passed on, not recorded.

mod common;

use axum::body::Bytes;
use common::{Client, Env};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Spans = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP receiver on a free loopback port: `POST /v1/traces` with protobuf bodies.
async fn receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let req = ExportTraceServiceRequest::decode(body).expect("an OTLP export");
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref())
                        .and_then(|v| v.value.clone());
                    assert_eq!(service, Some(AnyValue::StringValue("lmrelay-test".into())));
                    for ss in rs.scope_spans {
                        sink.lock().expect("lock").extend(ss.spans);
                    }
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, spans)
}

/// The spans of one trace, once `want` of them have arrived (the exporter batches).
async fn spans_of(spans: &Spans, trace_id: &[u8], want: usize) -> Vec<Span> {
    for _ in 0..100 {
        let got: Vec<Span> = spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {want} spans arrived for the trace");
}

fn attr(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

fn text(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(AnyValue::StringValue(s)) => s,
        other => panic!("{key} is not a string: {other:?}"),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(AnyValue::IntValue(n)) => n,
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const EXTRA: &str = r#"
[[routes]]
model = "failover"
targets = ["oa/gpt-4o-mini", "an/claude-3-5-haiku-latest"]
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

async fn ask(env: &Env, model: &str, stream: bool, traceparent: &str) -> u16 {
    let body = Client::OpenAi.chat(model, "what is the weather", stream, false);
    let resp = env
        .http
        .post(format!("{}/v1/chat/completions", env.url))
        .header("content-type", "application/json")
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=opaque")
        .body(body.to_string())
        .send()
        .await
        .expect("gateway answers");
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_follow_the_client_trace_with_genai_attributes() {
    // The SDK exports every 5 s by default; the test does not wait that long.
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "50");
    let (url, spans) = receiver().await;
    let top = format!(
        "[telemetry]\nendpoint = \"{url}\"\nservice_name = \"lmrelay-test\"\n\
         [health]\ninterval = \"0s\"\nfailure_threshold = 1000\n"
    );
    let env = Env::start_with_top(&top, EXTRA).await;
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE[i * 2..i * 2 + 2], 16).expect("hex"))
        .collect();

    // One attempt, not streamed, under the client's sampled trace.
    let tp = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    assert_eq!(ask(&env, "to-openai", false, &tp).await, 200);
    let got = spans_of(&spans, &trace_bytes, 2).await;
    let server = got
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span");
    let client = got
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("a client span");
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN);
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(server.name, "chat to-openai");
    assert_eq!(text(server, "gen_ai.operation.name"), "chat");
    assert_eq!(text(server, "gen_ai.request.model"), "to-openai");
    assert_eq!(text(server, "gen_ai.response.model"), "gpt-4o-mini");
    assert_eq!(text(server, "gen_ai.provider.name"), "openai");
    assert_eq!(text(server, "gen_ai.system"), "openai");
    assert!(int(server, "gen_ai.usage.input_tokens") > 0);
    assert!(int(server, "gen_ai.usage.output_tokens") > 0);
    assert_eq!(int(server, "http.response.status_code"), 200);
    match attr(server, "gen_ai.response.finish_reasons") {
        Some(AnyValue::ArrayValue(a)) => assert_eq!(
            a.values[0].value,
            Some(AnyValue::StringValue("stop".into()))
        ),
        other => panic!("finish reasons: {other:?}"),
    }
    assert_eq!(text(client, "gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(text(client, "lmrelay.provider"), "oa");
    assert!(server.start_time_unix_nano <= client.start_time_unix_nano);
    assert!(client.end_time_unix_nano <= server.end_time_unix_nano);
    // The upstream saw the attempt's span as its parent, in the client's trace.
    let sent = env.openai.last_request().expect("a request upstream");
    assert_eq!(
        sent.header("traceparent"),
        Some(format!("00-{TRACE}-{}-01", hex(&client.span_id)).as_str())
    );
    assert_eq!(sent.header("tracestate"), Some("vendor=opaque"));

    // Failover, streamed: the failed attempt's span says why; time to first token is kept.
    spans.lock().expect("lock").clear();
    env.openai.faults().fail_next(500, 1, None);
    let tp = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    assert_eq!(ask(&env, "failover", true, &tp).await, 200);
    let got = spans_of(&spans, &trace_bytes, 3).await;
    let server = got
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span");
    let attempts: Vec<&Span> = got
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    assert_eq!(attempts.len(), 2, "{got:?}");
    assert_eq!(int(server, "lmrelay.attempts"), 2);
    assert_eq!(text(server, "gen_ai.provider.name"), "anthropic");
    match attr(server, "gen_ai.server.time_to_first_token") {
        Some(AnyValue::DoubleValue(s)) => assert!(s >= 0.0),
        other => panic!("time to first token: {other:?}"),
    }
    let failed = attempts
        .iter()
        .find(|s| text(s, "lmrelay.provider") == "oa")
        .expect("the failed attempt");
    assert_eq!(text(failed, "error.type"), "server_error");
    assert_eq!(int(failed, "http.response.status_code"), 500);
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(2),
        "status error"
    );
    let served = attempts
        .iter()
        .find(|s| text(s, "lmrelay.provider") == "an")
        .expect("the serving attempt");
    assert_eq!(served.parent_span_id, server.span_id);
    assert!(failed.end_time_unix_nano <= served.start_time_unix_nano);

    // An error answered to the client is a span with an error status.
    spans.lock().expect("lock").clear();
    assert_eq!(ask(&env, "no-such-model", false, &tp).await, 404);
    let got = spans_of(&spans, &trace_bytes, 1).await;
    assert_eq!(int(&got[0], "http.response.status_code"), 404);
    assert_eq!(got[0].status.as_ref().map(|s| s.code), Some(2));

    // A client trace that is not sampled goes upstream unchanged and is not recorded.
    spans.lock().expect("lock").clear();
    let unsampled = format!("00-{TRACE}-{CLIENT_SPAN}-00");
    assert_eq!(ask(&env, "to-openai", false, &unsampled).await, 200);
    let sent = env.openai.last_request().expect("a request upstream");
    assert_eq!(sent.header("traceparent"), Some(unsampled.as_str()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(spans.lock().expect("lock").is_empty());
    env.stop().await;
}
