//! OpenAI-compatible vendors as data: a preset is a default base URL plus the vendor's
//! documented differences from OpenAI's dialect, as flags the `openai` adapter reads.
//! Adding a vendor is a new row, not new code; no code path is keyed on a preset's name.
//!
//! Sources: ../shared/docs/protocols.md §8 and the vendors' public API references. Every
//! preset sends `max_tokens` (not `max_completion_tokens`) and may receive `top_k`, because
//! the codec treats any preset as an OpenAI-compatible server.

/// One OpenAI-compatible vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The config `type`.
    pub name: &'static str,
    pub base_url: &'static str,
    /// The environment variable the built-in default reads its keys from.
    pub env_key: Option<&'static str>,
    /// Placeholders in `base_url` and the environment variables the built-in default fills
    /// them from (Workers AI's account id); without them it leaves the preset out.
    pub url_vars: &'static [(&'static str, &'static str)],
    /// Top-level request fields the vendor rejects, removed before sending.
    pub drops: &'static [&'static str],
    /// Whether `messages[].name` must be removed (the vendor refuses it).
    pub strip_message_names: bool,
    /// Top-level request fields the vendor spells differently: `(openai, vendor)`.
    pub renames: &'static [(&'static str, &'static str)],
    /// What `tool_choice: "required"` becomes (Mistral and Fireworks say `"any"`).
    pub required_tool_choice: Option<&'static str>,
    /// The shape tool-call ids must have on this vendor.
    pub tool_call_ids: ToolCallIds,
    /// Headers sent by default (a provider's `headers` setting overrides them).
    pub headers: &'static [(&'static str, &'static str)],
    /// Where the vendor puts reasoning text in answers and stream deltas. The OpenAI reader
    /// reads both `reasoning_content` and `reasoning` for every upstream; this records
    /// which one the vendor uses (documentation and per-preset tests).
    pub reasoning_field: Option<&'static str>,
    /// Whether the vendor needs an API key (local servers do not).
    pub needs_key: bool,
}

/// The tool-call id shape a vendor accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallIds {
    /// Any string (OpenAI's `call_…` and others pass through).
    Any,
    /// Exactly 9 characters from `[a-zA-Z0-9]` (Mistral). Other ids are rewritten to a
    /// hash of themselves, so a call and its result still match across a tool loop.
    Alnum9,
}

const BASE: Preset = Preset {
    name: "",
    base_url: "",
    env_key: None,
    url_vars: &[],
    drops: &[],
    strip_message_names: false,
    renames: &[],
    required_tool_choice: None,
    tool_call_ids: ToolCallIds::Any,
    headers: &[],
    reasoning_field: None,
    needs_key: true,
};

/// Every preset, in the order the built-in default looks them up.
pub const PRESETS: &[Preset] = &[
    // Groq's OpenAI-compatibility page: `logprobs`, `logit_bias`, `top_logprobs` and
    // `messages[].name` are refused with a 400, and `n` must be 1 (dropped: 1 is the default).
    Preset {
        name: "groq",
        base_url: "https://api.groq.com/openai/v1",
        env_key: Some("GROQ_API_KEY"),
        drops: &["logprobs", "top_logprobs", "logit_bias", "n"],
        strip_message_names: true,
        reasoning_field: Some("reasoning"),
        ..BASE
    },
    // protocols.md §8: ids of exactly 9 alphanumerics, `random_seed`, `"any"` for required,
    // unknown fields refused (`extra_forbidden`), so no message `name`.
    Preset {
        name: "mistral",
        base_url: "https://api.mistral.ai/v1",
        env_key: Some("MISTRAL_API_KEY"),
        renames: &[("seed", "random_seed")],
        required_tool_choice: Some("any"),
        tool_call_ids: ToolCallIds::Alnum9,
        strip_message_names: true,
        ..BASE
    },
    // protocols.md §8: attribution headers, reasoning in `reasoning`.
    Preset {
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        env_key: Some("OPENROUTER_API_KEY"),
        // `HTTP-Referer` has no honest default (it is the deployer's site): set it in
        // the provider's `headers`.
        headers: &[("x-title", "lmrelay")],
        reasoning_field: Some("reasoning"),
        ..BASE
    },
    // protocols.md §8: reasoning in `reasoning_content` (message and delta).
    Preset {
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        env_key: Some("DEEPSEEK_API_KEY"),
        reasoning_field: Some("reasoning_content"),
        ..BASE
    },
    // Model ids look like `org/model`; `finish_reason: "eos"` is read as `stop`.
    Preset {
        name: "together",
        base_url: "https://api.together.xyz/v1",
        env_key: Some("TOGETHER_API_KEY"),
        ..BASE
    },
    // `finish_reason: ""` with tool calls is read as `tool_calls` by the reader.
    Preset {
        name: "xai",
        base_url: "https://api.x.ai/v1",
        env_key: Some("XAI_API_KEY"),
        ..BASE
    },
    // Model ids are `accounts/fireworks/models/<name>`; `"required"` is `"any"`.
    Preset {
        name: "fireworks",
        base_url: "https://api.fireworks.ai/inference/v1",
        env_key: None,
        required_tool_choice: Some("any"),
        ..BASE
    },
    // Cerebras' OpenAI-compatibility page: these fields are refused with a 400.
    Preset {
        name: "cerebras",
        base_url: "https://api.cerebras.ai/v1",
        env_key: Some("CEREBRAS_API_KEY"),
        drops: &[
            "frequency_penalty",
            "logit_bias",
            "presence_penalty",
            "parallel_tool_calls",
            "service_tier",
        ],
        ..BASE
    },
    // NVIDIA NIM: model ids look like `meta/llama-3.3-70b-instruct`.
    Preset {
        name: "nvidia",
        base_url: "https://integrate.api.nvidia.com/v1",
        env_key: Some("NVIDIA_API_KEY"),
        ..BASE
    },
    // Hugging Face router: `org/model`, optionally `:provider` or `:fastest`.
    Preset {
        name: "huggingface",
        base_url: "https://router.huggingface.co/v1",
        env_key: Some("HF_TOKEN"),
        ..BASE
    },
    // Workers AI needs the account id in the URL; the built-in default fills it in from
    // CLOUDFLARE_ACCOUNT_ID. Model ids look like `@cf/meta/llama-3.3-70b-instruct-fp8-fast`.
    Preset {
        name: "cloudflare",
        base_url: "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
        env_key: Some("CLOUDFLARE_API_TOKEN"),
        url_vars: &[("{account_id}", "CLOUDFLARE_ACCOUNT_ID")],
        ..BASE
    },
    // Local servers: a key only if the server was started with one.
    Preset {
        name: "vllm",
        base_url: "http://127.0.0.1:8000/v1",
        reasoning_field: Some("reasoning"),
        needs_key: false,
        ..BASE
    },
    Preset {
        name: "lmstudio",
        base_url: "http://127.0.0.1:1234/v1",
        reasoning_field: Some("reasoning_content"),
        needs_key: false,
        ..BASE
    },
    Preset {
        name: "llamacpp",
        base_url: "http://127.0.0.1:8080/v1",
        reasoning_field: Some("reasoning_content"),
        needs_key: false,
        ..BASE
    },
    Preset {
        name: "openai-compatible",
        needs_key: false,
        ..BASE
    },
];

/// The preset named `name`.
pub fn preset_named(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The id to send a vendor for a tool call whose canonical id is `id`.
pub fn tool_call_id(shape: ToolCallIds, id: &str) -> std::borrow::Cow<'_, str> {
    match shape {
        ToolCallIds::Any => id.into(),
        ToolCallIds::Alnum9 => {
            if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return id.into();
            }
            // FNV-1a, 64 bits: deterministic across processes, so a call and its result
            // (possibly sent in later requests) get the same id.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in id.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            const ALPHABET: &[u8] =
                b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            (0..9)
                .map(|_| {
                    let c = ALPHABET[(h % 62) as usize] as char;
                    h /= 62;
                    c
                })
                .collect::<String>()
                .into()
        }
    }
}

#[cfg(test)]
mod tests;
