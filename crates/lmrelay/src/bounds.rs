//! What one request may ask for, whatever its protocol: counts that no real client reaches
//! and that would only make the gateway or an upstream do (and bill) absurd work. Checked
//! once, on the canonical request, right after decoding; a request over a bound gets a 400
//! naming the field.

use lmrelay_ir::{ApiError, ChatRequest};

/// The most messages (turns) in one request.
pub const MAX_MESSAGES: usize = 10_000;
/// The most tools one request may offer.
pub const MAX_TOOLS: usize = 512;
/// The most choices one request may ask for (OpenAI's own limit).
pub const MAX_CHOICES: u32 = 128;
/// The most stop sequences.
pub const MAX_STOP: usize = 64;

/// Whether a request's counts are within the bounds (what the same-protocol fast path
/// checks on a body's envelope; one that is not goes the canonical way, to [`check`]).
pub fn within(messages: usize, tools: usize, stop: usize, n: Option<u32>) -> bool {
    messages <= MAX_MESSAGES
        && tools <= MAX_TOOLS
        && stop <= MAX_STOP
        && n.is_none_or(|n| (1..=MAX_CHOICES).contains(&n))
}

/// Checks a decoded request against the bounds.
pub fn check(req: &ChatRequest) -> Result<(), ApiError> {
    let over = |field: &str, n: usize, max: usize| {
        ApiError::invalid(format!(
            "The request has {n} {field}; lmrelay accepts at most {max}."
        ))
        .with_param(field)
    };
    if req.messages.len() > MAX_MESSAGES {
        return Err(over("messages", req.messages.len(), MAX_MESSAGES));
    }
    if req.tools.len() > MAX_TOOLS {
        return Err(over("tools", req.tools.len(), MAX_TOOLS));
    }
    if req.sampling.stop.len() > MAX_STOP {
        return Err(over("stop", req.sampling.stop.len(), MAX_STOP));
    }
    if let Some(n) = req.sampling.n.filter(|n| *n > MAX_CHOICES || *n == 0) {
        return Err(ApiError::invalid(format!(
            "`n` is {n}; it must be between 1 and {MAX_CHOICES}."
        ))
        .with_param("n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmrelay_ir::{Message, Role, Tool};

    fn req() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn absurd_counts_are_refused_by_field() {
        assert!(check(&req()).is_ok());
        let mut r = req();
        r.messages = vec![Message::text(Role::User, "x"); MAX_MESSAGES + 1];
        assert_eq!(
            check(&r).expect_err("messages").param.as_deref(),
            Some("messages")
        );
        let mut r = req();
        r.tools = vec![
            Tool {
                name: "t".into(),
                description: None,
                parameters: None,
                strict: None,
                cache_control: None,
            };
            MAX_TOOLS + 1
        ];
        assert_eq!(
            check(&r).expect_err("tools").param.as_deref(),
            Some("tools")
        );
        for n in [0, MAX_CHOICES + 1] {
            let mut r = req();
            r.sampling.n = Some(n);
            assert_eq!(check(&r).expect_err("n").param.as_deref(), Some("n"));
        }
        let mut r = req();
        r.sampling.stop = vec!["s".into(); MAX_STOP + 1];
        assert_eq!(check(&r).expect_err("stop").param.as_deref(), Some("stop"));
    }
}
