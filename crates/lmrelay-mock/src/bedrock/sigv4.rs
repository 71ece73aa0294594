//! Checking AWS Signature Version 4 the way AWS does, written from the published algorithm
//! (independently of the gateway's signer): the canonical request, the string to sign,
//! the derived key and the signature, recomputed with the secret the mock knows for the
//! access key id, plus the time window and the credential scope.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How far a request's `X-Amz-Date` may be from the mock's clock (AWS allows 5 minutes;
/// the mock is kinder to slow test machines).
const MAX_SKEW_SECS: u64 = 15 * 60;

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

/// Why a signature was refused: the AWS exception name and message.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub exception: &'static str,
    pub message: String,
}

fn refuse(exception: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        exception,
        message: message.into(),
    }
}

fn incomplete(message: &str) -> Refusal {
    refuse("IncompleteSignatureException", message)
}

/// Parses the header value, insisting on AWS's shape.
pub(super) fn parse_authorization(value: &str) -> Result<Authorization<'_>, Refusal> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        incomplete("Authorization header requires 'AWS4-HMAC-SHA256' as the algorithm.")
    })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| {
            incomplete("Authorization header requires each component to be key=value.")
        })?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(
            "Credential should have five parts: AKID/date/region/service/aws4_request.",
        ));
    };
    if terminator != "aws4_request" || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(incomplete(
            "Credential should end with aws4_request and carry a date as YYYYMMDD.",
        ));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(incomplete("Signature should be 64 lowercase hex digits."));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    let mut sorted = signed_headers.clone();
    sorted.sort_unstable();
    if sorted != signed_headers
        || signed_headers
            .iter()
            .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(incomplete(
            "SignedHeaders should be lowercase names, sorted, separated by ';'.",
        ));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// What the mock received, as the signature must cover it.
pub(super) struct Received<'a> {
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded).
    pub raw_path: &'a str,
    pub query: Option<&'a str>,
    /// `(lowercase name, value)` of every header.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Checks `auth` against the request, the secret and the clock. Without a secret (a mock
/// that accepts any key) everything but the signature itself is checked.
pub(super) fn verify(
    auth: &Authorization<'_>,
    req: &Received<'_>,
    secret: Option<&str>,
    now_secs: u64,
) -> Result<(), Refusal> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if auth.service != "bedrock" {
        return Err(refuse(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: 'bedrock'. (It was '{}'.)",
                auth.service
            ),
        ));
    }
    if auth.region.is_empty()
        || !auth
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(refuse(
            "InvalidSignatureException",
            "Credential should be scoped to a valid region.",
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(refuse(
                "InvalidSignatureException",
                format!("'{required}' must be a 'SignedHeader' in the AWS Authorization."),
            ));
        }
    }
    if header("x-amz-security-token").is_some()
        && !auth.signed_headers.contains(&"x-amz-security-token")
    {
        return Err(refuse(
            "InvalidSignatureException",
            "'x-amz-security-token' must be signed when sent.",
        ));
    }
    let amz_date = header("x-amz-date").unwrap_or("");
    let Some(request_secs) = parse_amz_date(amz_date) else {
        return Err(incomplete("X-Amz-Date must be YYYYMMDDTHHMMSSZ."));
    };
    if !amz_date.starts_with(auth.date) {
        return Err(refuse(
            "InvalidSignatureException",
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'", auth.date, &amz_date[..8]),
        ));
    }
    if now_secs.abs_diff(request_secs) > MAX_SKEW_SECS {
        return Err(refuse(
            "InvalidSignatureException",
            format!("Signature expired: {amz_date} is now earlier than the allowed window (the gateway must sign with the current time)."),
        ));
    }
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(refuse(
                "InvalidSignatureException",
                format!("The signed header '{name}' was not sent."),
            ));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.raw_path),
        canonical_query(req.query.unwrap_or("")),
        canonical_headers,
        auth.signed_headers.join(";"),
        hex(&Sha256::digest(req.body)),
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let Some(secret) = secret else {
        return Ok(());
    };
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if expected != auth.signature {
        return Err(refuse(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// Non-S3 services encode each path segment once more: the `%` of `%3A` becomes `%25`.
fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k), uri_encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding of everything but unreserved characters.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`.
pub(super) fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// AWS's published `get-vanilla` example, checked with the mock's own algorithm but
    /// service `service` (the mock otherwise insists on `bedrock`).
    #[test]
    fn aws_get_vanilla_example() {
        let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let auth = parse_authorization(value).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        let headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let req = Received {
            method: "GET",
            raw_path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let now = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(now, 1_440_938_160);
        let bedrock = Authorization {
            service: "bedrock",
            ..parse_authorization(value).unwrap()
        };
        assert_eq!(
            verify(
                &bedrock,
                &req,
                Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                now
            )
            .unwrap_err()
            .exception,
            "InvalidSignatureException"
        );
        // The signature itself, recomputed with service `service`.
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20150830");
        for part in ["us-east-1", "service", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let canonical = format!(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{}",
            hex(&Sha256::digest(b""))
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(hex(&hmac(&key, sts.as_bytes())), auth.signature);
        assert_eq!(
            canonical_uri("/model/a%3A0/converse"),
            "/model/a%253A0/converse"
        );
    }
}
