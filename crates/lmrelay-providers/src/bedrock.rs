//! The `bedrock` provider type: AWS Bedrock's Converse API (protocols.md §6).
//!
//! `POST {base}/model/{modelId}/converse`, `/converse-stream` for streams (an AWS binary
//! event-stream) and `/count-tokens`; the model id is percent-encoded in the path (`:` →
//! `%3A`, `/` → `%2F`, so inference profiles and ARNs work). The base URL defaults to
//! `https://bedrock-runtime.{aws_region}.amazonaws.com`.
//!
//! Auth: a key `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]` signs each request with SigV4 (the
//! `aws-sigv4` crate; service `bedrock`, region `Target::aws_region`, time
//! `Target::now_unix_ms`: the adapter reads no clock). A key without `:` is a Bedrock API
//! key, sent as `Authorization: Bearer`.
//!
//! Health: Bedrock's only cheap listing (`GET /foundation-models`) is on another host
//! (`bedrock.{region}…`, the control plane) and needs another IAM permission than
//! inference, so there is no active check: health comes from live traffic alone.

use crate::adapter::{join, options, post, Adapter, Dialect, Target, UpstreamRequest};
use crate::classify::{classify, UpstreamError};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, ErrorKind};
use lmrelay_protocol::{bedrock, StreamDecoder};
use std::time::{Duration, UNIX_EPOCH};

/// SigV4's name for Bedrock, also for the `bedrock-runtime` host.
const SERVICE: &str = "bedrock";

/// Bedrock upstreams.
pub struct BedrockAdapter;

/// A parsed upstream key: AWS credentials, or a Bedrock API key.
#[derive(Clone, PartialEq, Eq)]
pub enum BedrockCredentials<'a> {
    Aws {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        session_token: Option<&'a str>,
    },
    ApiKey(&'a str),
}

// === impl BedrockCredentials ===

impl<'a> BedrockCredentials<'a> {
    /// Reads `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`, or a Bedrock API key (no `:`).
    pub fn parse(key: &'a str) -> Result<Self, ApiError> {
        let mut parts = key.splitn(3, ':');
        let first = parts.next().unwrap_or("");
        let Some(secret) = parts.next() else {
            return if first.trim().is_empty() {
                Err(bad_key())
            } else {
                Ok(BedrockCredentials::ApiKey(first))
            };
        };
        let token = parts.next();
        // Header values: visible ASCII only (a control character would break signing).
        let header_safe = |v: &str| v.bytes().all(|b| b.is_ascii_graphic());
        if first.is_empty()
            || secret.is_empty()
            || token.is_some_and(str::is_empty)
            || !header_safe(first)
            || !token.is_none_or(header_safe)
        {
            return Err(bad_key());
        }
        Ok(BedrockCredentials::Aws {
            access_key_id: first,
            secret_access_key: secret,
            session_token: token,
        })
    }
}

impl std::fmt::Debug for BedrockCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BedrockCredentials::Aws {
                access_key_id,
                session_token,
                ..
            } => f
                .debug_struct("Aws")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"***")
                .field("session_token", &session_token.map(|_| "***"))
                .finish(),
            BedrockCredentials::ApiKey(_) => f.write_str("ApiKey(***)"),
        }
    }
}

fn bad_key() -> ApiError {
    ApiError::new(
        ErrorKind::Authentication,
        "A Bedrock key must be `ACCESS_KEY_ID:SECRET_ACCESS_KEY`, optionally followed by `:SESSION_TOKEN`, or a Bedrock API key.",
    )
}

// === impl BedrockAdapter ===

impl BedrockAdapter {
    /// `POST {base}/model/{modelId}/{action}`, signed for `target`.
    fn model_request(
        &self,
        target: &Target<'_>,
        action: &str,
        accept: &'static str,
        body: Vec<u8>,
    ) -> Result<UpstreamRequest, ApiError> {
        let url = join(
            target.base_url,
            &format!("model/{}/{action}", encode_model_id(target.model)),
        );
        let mut headers = Vec::new();
        let creds = match target.api_key {
            Some(key) => Some(BedrockCredentials::parse(key)?),
            None => None,
        };
        if let Some(BedrockCredentials::ApiKey(k)) = &creds {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        let mut req = post(url, "application/json", accept, &headers, body)?;
        if let Some(BedrockCredentials::Aws {
            access_key_id,
            secret_access_key,
            session_token,
        }) = creds
        {
            let region = target.aws_region.filter(|r| !r.is_empty()).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::BadGateway,
                    "A Bedrock provider needs `aws_region` to sign its requests.",
                )
            })?;
            sign_v4(
                &mut req,
                SERVICE,
                region,
                target.now_unix_ms,
                access_key_id,
                secret_access_key,
                session_token,
            )?;
        }
        Ok(req)
    }
}

impl Adapter for BedrockAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::Bedrock
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = bedrock::encode_request(req, &options(target))?;
        if req.stream {
            self.model_request(
                target,
                "converse-stream",
                "application/vnd.amazon.eventstream",
                body,
            )
        } else {
            self.model_request(target, "converse", "application/json", body)
        }
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        bedrock::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(bedrock::StreamReader::new())
    }

    /// The exception's name is in `x-amzn-ErrorType`. A signature Bedrock rejects
    /// (`InvalidSignatureException`, an unknown or expired key) is the key's fault.
    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        let kind = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        let error = bedrock::decode_error(status, kind, body);
        classify(error.status, headers, error)
    }

    /// Claude models on Bedrock that cannot think refuse `thinking`; it came from the
    /// client's reasoning, which can be dropped.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status != 400 || req.reasoning.is_none() {
            return false;
        }
        let m = error.message.to_ascii_lowercase();
        if m.contains("thinking") || m.contains("budget_tokens") {
            req.reasoning = None;
            return true;
        }
        false
    }

    fn needs_inline_images(&self) -> bool {
        true
    }

    fn count_tokens_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        let build = || {
            let body = bedrock::encode_count_tokens_request(req, &options(target))?;
            self.model_request(target, "count-tokens", "application/json", body)
        };
        Some(build())
    }

    fn count_tokens_response(&self, body: &[u8]) -> Result<u64, ApiError> {
        bedrock::decode_count_tokens(body)
    }

    /// Counting the tokens of a one-word prompt for the provider's model: on the runtime
    /// host, signed like every request, and not billed (the model list is on another host
    /// and needs another permission). Needs a model name in the target.
    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        if target.model.is_empty() {
            return None;
        }
        let probe = ChatRequest {
            model: target.model.to_owned(),
            messages: vec![lmrelay_ir::Message::text(lmrelay_ir::Role::User, "hi")],
            ..ChatRequest::default()
        };
        self.count_tokens_request(&probe, target)
    }
}

/// The model id as one path segment: everything but unreserved characters is
/// percent-encoded (`:` → `%3A`, `/` → `%2F`).
fn encode_model_id(model: &str) -> String {
    let mut out = String::with_capacity(model.len() + 8);
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs `req` in place with SigV4 (`Authorization`, `X-Amz-Date`, and
/// `X-Amz-Security-Token` for temporary credentials) at `now_unix_ms`.
fn sign_v4(
    req: &mut UpstreamRequest,
    service: &str,
    region: &str,
    now_unix_ms: u64,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> Result<(), ApiError> {
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("Could not sign the Bedrock request: {e}"),
        )
    };
    let identity: Identity = Credentials::new(
        access_key_id,
        secret_access_key,
        session_token.map(str::to_owned),
        None,
        "lmrelay",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(UNIX_EPOCH + Duration::from_millis(now_unix_ms))
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers,
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| failed(&e))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    for name in ["authorization", "x-amz-security-token"] {
        if let Some(v) = req.headers_mut().get_mut(name) {
            v.set_sensitive(true);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmrelay_ir::{Message, Role};

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    const SUITE_TIME_MS: u64 = 1_440_938_160_000;
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn target<'a>(headers: &'a HeaderMap, key: Option<&'a str>) -> Target<'a> {
        Target {
            base_url: "https://bedrock-runtime.us-east-1.amazonaws.com/",
            model: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            api_key: key,
            default_max_tokens: 4096,
            preset: None,
            client: Dialect::OpenAi,
            client_headers: headers,
            allowed_betas: &[],
            aws_region: Some("us-east-1"),
            headers: &[],
            now_unix_ms: SUITE_TIME_MS,
        }
    }

    /// AWS's published `get-vanilla` case: `GET /` to `example.amazonaws.com`, service
    /// `service`, signed only over `host` and `x-amz-date`.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let mut req = http::Request::get("https://example.amazonaws.com/")
            .body(bytes::Bytes::new())
            .expect("request");
        sign_v4(
            &mut req,
            "service",
            "us-east-1",
            SUITE_TIME_MS,
            AKID,
            SECRET,
            None,
        )
        .expect("signs");
        assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn converse_urls_are_signed_for_bedrock() {
        let h = HeaderMap::new();
        let mut req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let key = format!("{AKID}:{SECRET}");
        let built = BedrockAdapter
            .chat_request(&req, &target(&h, Some(&key)))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        let auth = built.headers()["authorization"].to_str().expect("ascii");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert!(built.headers()["authorization"].is_sensitive());
        assert_eq!(built.headers()["x-amz-date"], "20150830T123600Z");
        assert!(built.headers().get("x-amz-security-token").is_none());
        // The same request at the same time signs the same; a different time does not.
        let again = BedrockAdapter
            .chat_request(&req, &target(&h, Some(&key)))
            .expect("builds");
        assert_eq!(again.headers()["authorization"], auth);
        let mut later = target(&h, Some(&key));
        later.now_unix_ms += 1000;
        let later = BedrockAdapter.chat_request(&req, &later).expect("builds");
        assert_ne!(later.headers()["authorization"], auth);

        req.stream = true;
        let key = format!("{AKID}:{SECRET}:c2Vzc2lvbg==");
        let built = BedrockAdapter
            .chat_request(&req, &target(&h, Some(&key)))
            .expect("builds");
        assert!(built.uri().path().ends_with("%3A0/converse-stream"));
        assert_eq!(
            built.headers()["accept"],
            "application/vnd.amazon.eventstream"
        );
        assert_eq!(built.headers()["x-amz-security-token"], "c2Vzc2lvbg==");
        assert!(built.headers()["authorization"]
            .to_str()
            .expect("ascii")
            .contains("x-amz-security-token"));

        // A Bedrock API key is a bearer token; no key, no auth.
        let built = BedrockAdapter
            .chat_request(&req, &target(&h, Some("ABSKapikey")))
            .expect("builds");
        assert_eq!(built.headers()["authorization"], "Bearer ABSKapikey");
        assert!(built.headers().get("x-amz-date").is_none());
        let built = BedrockAdapter
            .chat_request(&req, &target(&h, None))
            .expect("builds");
        assert!(built.headers().get("authorization").is_none());
        // Without a region, AWS credentials cannot sign.
        let mut t = target(&h, Some("A:B"));
        t.aws_region = None;
        assert!(BedrockAdapter.chat_request(&req, &t).is_err());
        // The active check counts a prompt's tokens for the target's model, signed.
        let check = BedrockAdapter
            .health_request(&target(&h, Some("A:B")))
            .expect("a check")
            .expect("builds");
        assert!(
            check.uri().path().ends_with("/count-tokens"),
            "{}",
            check.uri()
        );
        assert!(check.headers().get("authorization").is_some());
        let mut no_model = target(&h, Some("A:B"));
        no_model.model = "";
        assert!(BedrockAdapter.health_request(&no_model).is_none());
        assert!(BedrockAdapter.needs_inline_images());
    }

    #[test]
    fn keys_and_model_ids() {
        assert_eq!(
            BedrockCredentials::parse("AK:SE/+x:TOK"),
            Ok(BedrockCredentials::Aws {
                access_key_id: "AK",
                secret_access_key: "SE/+x",
                session_token: Some("TOK"),
            })
        );
        assert!(BedrockCredentials::parse("AK:").is_err());
        assert!(BedrockCredentials::parse(":SE").is_err());
        assert!(BedrockCredentials::parse("AK:SE:").is_err());
        assert!(BedrockCredentials::parse("").is_err());
        let debug = format!("{:?}", BedrockCredentials::parse("AK:SECRET:TOK"));
        assert!(
            !debug.contains("SECRET") && !debug.contains("TOK"),
            "{debug}"
        );
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:1:inference-profile/us.x-v1:0"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x-v1%3A0"
        );
    }

    #[test]
    fn errors_are_classified() {
        let mut h = HeaderMap::new();
        let e = BedrockAdapter.error(429, &h, br#"{"message":"Too many requests"}"#);
        assert!(e.key_fault() && e.retryable(), "a bare 429: {e:?}");
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ServiceUnavailableException:http://internal"),
        );
        let e = BedrockAdapter.error(503, &h, br#"{"message":"down"}"#);
        assert!(e.retryable() && !e.key_fault());
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("InvalidSignatureException"),
        );
        let e = BedrockAdapter.error(403, &h, br#"{"message":"bad signature"}"#);
        assert!(e.key_fault() && !e.retryable());
        assert_eq!(e.error.kind, ErrorKind::Authentication);
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ValidationException"),
        );
        let e = BedrockAdapter.error(
            400,
            &h,
            br#"{"message":"Input is too long for requested model."}"#,
        );
        assert_eq!(e.kind, crate::FailureKind::ContextLength);
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ModelTimeoutException"),
        );
        let e = BedrockAdapter.error(408, &h, br#"{"message":"slow"}"#);
        assert_eq!(e.kind, crate::FailureKind::Timeout);
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ModelNotReadyException"),
        );
        let e = BedrockAdapter.error(429, &h, br#"{"message":"warming"}"#);
        assert_eq!(e.kind, crate::FailureKind::Overloaded);
    }
}
