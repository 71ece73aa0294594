//! OpenAI-compatible vendors as data: a preset is a default base URL (and, later, quirk
//! flags) over the `openai` adapter. Adding a vendor is a new row, not new code.

/// One OpenAI-compatible vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The config `type`.
    pub name: &'static str,
    pub base_url: &'static str,
    /// The environment variable the built-in default reads its keys from.
    pub env_key: Option<&'static str>,
}

/// Every preset, in the order the built-in default looks them up.
pub const PRESETS: &[Preset] = &[
    preset(
        "groq",
        "https://api.groq.com/openai/v1",
        Some("GROQ_API_KEY"),
    ),
    preset(
        "mistral",
        "https://api.mistral.ai/v1",
        Some("MISTRAL_API_KEY"),
    ),
    preset(
        "openrouter",
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
    ),
    preset(
        "deepseek",
        "https://api.deepseek.com/v1",
        Some("DEEPSEEK_API_KEY"),
    ),
    preset(
        "together",
        "https://api.together.xyz/v1",
        Some("TOGETHER_API_KEY"),
    ),
    preset("xai", "https://api.x.ai/v1", Some("XAI_API_KEY")),
    preset("fireworks", "https://api.fireworks.ai/inference/v1", None),
    preset(
        "cerebras",
        "https://api.cerebras.ai/v1",
        Some("CEREBRAS_API_KEY"),
    ),
    preset(
        "nvidia",
        "https://integrate.api.nvidia.com/v1",
        Some("NVIDIA_API_KEY"),
    ),
    preset(
        "huggingface",
        "https://router.huggingface.co/v1",
        Some("HF_TOKEN"),
    ),
    // Workers AI needs the account id in the URL; the built-in default fills it in.
    preset(
        "cloudflare",
        "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
        Some("CLOUDFLARE_API_TOKEN"),
    ),
    preset("vllm", "http://127.0.0.1:8000/v1", None),
    preset("lmstudio", "http://127.0.0.1:1234/v1", None),
    preset("llamacpp", "http://127.0.0.1:8080/v1", None),
    preset("openai-compatible", "", None),
];

const fn preset(
    name: &'static str,
    base_url: &'static str,
    env_key: Option<&'static str>,
) -> Preset {
    Preset {
        name,
        base_url,
        env_key,
    }
}

/// The preset named `name`.
pub fn preset_named(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
