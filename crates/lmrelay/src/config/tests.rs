//! Config parsing and validation tests.

use super::env_default::from_env;
use super::*;

fn env(k: &str) -> Option<String> {
    match k {
        "OPENAI_KEY_A" => Some("sk-a".into()),
        "OPENAI_KEY_B" => Some("sk-b".into()),
        "ANTHROPIC_API_KEY" => Some("sk-ant".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_str(text, Format::Toml, "test.toml", &env)
}

const PRODUCT_EXAMPLE: &str = r#"
listen = "127.0.0.1:8080"
max_body = "10MiB"

[admin]
token = "t0k"

[store]
backend = "memory"
url = "redis://127.0.0.1:6379/0"

[cache]
enabled = true
ttl = "60s"
max_entries = 10000

[health]
interval = "30s"
timeout = "2s"

[[providers]]
name = "openai"
type = "openai"
base_url = "https://api.openai.com/v1"
keys = ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]
models = ["gpt-4o-mini", "gpt-4o"]
region = "us"
timeout = "120s"
weight = 1
prices = { "gpt-4o-mini" = { input = 0.15, output = 0.60 } }

[[providers]]
name = "anthropic"
type = "anthropic"
keys = ["${ANTHROPIC_API_KEY}"]
models = ["claude-3-5-haiku-latest"]

[[providers]]
name = "local"
type = "ollama"
base_url = "http://127.0.0.1:11434"
models = ["*"]

[[routes]]
model = "chat"
targets = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "local/llama3.2"]
strategy = "failover"
cache = false

[[routes]]
model = "weighted"
targets = [{ target = "openai/gpt-4o-mini", weight = 3 }, "local/llama3.2"]

[[keys]]
name = "marketing"
key = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
models = ["chat", "gpt-4o-mini"]
rpm = 60
tpm = 100000
budget_usd = 50.0
regions = ["eu"]
"#;

#[test]
fn the_documented_example_loads() {
    let c = parse(PRODUCT_EXAMPLE).expect("valid");
    assert_eq!(c.max_body, 10 * 1024 * 1024);
    assert_eq!(c.providers.len(), 3);
    assert_eq!(c.providers[0].keys.len(), 2);
    assert_eq!(c.providers[0].keys[1].expose(), "sk-b");
    assert_eq!(c.providers[1].base_url, "https://api.anthropic.com");
    assert_eq!(
        c.routes[0].targets[2],
        RouteTarget {
            provider: "local".into(),
            model: "llama3.2".into(),
            weight: None
        }
    );
    assert_eq!(c.routes[1].targets[0].weight, Some(3));
    assert_eq!(c.routes[1].targets[1].weight, None);
    assert_eq!(c.keys[0].models, vec!["chat", "gpt-4o-mini"]);
    assert!(c.admin_token.is_some());
}

#[test]
fn yaml_with_the_same_schema_loads() {
    let yaml = "listen: 127.0.0.1:9000\nproviders:\n  - name: local\n    type: ollama\n    models: ['*']\nroutes:\n  - model: chat\n    targets: [local/llama3.2]\n";
    let c = parse_str(yaml, Format::Yaml, "x.yaml", &env).expect("valid");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.routes[0].targets[0].provider, "local");
}

#[test]
fn every_error_is_reported_with_line_and_field() {
    let text = r#"listen = "127.0.0.1:8080"

[[providers]]
name = "a"
type = "openai"
keys = ["${MISSING_VAR}"]
models = ["m"]

[[providers]]
name = "b"
type = "warp-drive"
models = ["m"]

[[providers]]
name = "c"
type = "ollama"
models = ["*"]
timeout = "forever"

[[routes]]
model = "chat"
targets = ["nobody/m", "bad"]
strategy = "random"
"#;
    let errs = parse(text).expect_err("invalid").0;
    let find = |field: &str| {
        errs.iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error for {field}: {errs:?}"))
    };
    let e = find("providers[0].keys[0]");
    assert!(e.message.contains("MISSING_VAR"));
    assert_eq!(e.line, Some(6));
    let e = find("providers[1].type");
    assert!(e.message.contains("warp-drive"));
    assert_eq!(e.line, Some(11));
    let e = find("providers[2].timeout");
    assert_eq!(e.line, Some(18));
    assert!(find("routes[0].strategy").message.contains("random"));
    assert!(
        errs.iter()
            .filter(|e| e.field == "routes[0].targets")
            .count()
            == 2
    );
    let shown = ConfigErrors(errs.clone()).to_string();
    assert!(shown.contains("test.toml:11: providers[1].type"), "{shown}");
}

#[test]
fn unknown_fields_and_syntax_errors_are_named() {
    let errs =
        parse("[[providers]]\nname = \"a\"\ntype = \"openai\"\nmodels = [\"m\"]\nmodle = 1\n")
            .expect_err("typo")
            .0;
    assert!(errs[0].message.contains("modle"), "{errs:?}");
    let errs = parse("listen = \n").expect_err("syntax").0;
    assert!(errs[0].message.contains("syntax"));
    assert_eq!(errs[0].line, Some(1));
}

#[test]
fn public_address_without_keys_is_refused_unless_auth_none() {
    let errs = parse("listen = \"0.0.0.0:8080\"\n").expect_err("open").0;
    assert!(errs[0].message.contains("auth = \"none\""));
    assert!(parse("listen = \"0.0.0.0:8080\"\nauth = \"none\"\n").is_ok());
}

#[test]
fn sizes_and_durations() {
    assert_eq!(load::parse_size("10MiB"), Ok(10 * 1024 * 1024));
    assert_eq!(load::parse_size("512"), Ok(512));
    assert_eq!(load::parse_size("1KB"), Ok(1000));
    assert!(load::parse_size("ten").is_err());
    assert_eq!(parse("max_body = \"1KiB\"").expect("ok").max_body, 1024);
}

#[test]
fn built_in_default_reads_the_environment() {
    let c = from_env(&|k| match k {
        "OPENAI_API_KEY" => Some("sk-1, sk-2".into()),
        "GROQ_API_KEY" => Some("gsk".into()),
        "CLOUDFLARE_API_TOKEN" => Some("cf".into()),
        "OLLAMA_HOST" => Some("10.0.0.5:11434".into()),
        _ => None,
    })
    .expect("env config");
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["openai", "groq", "ollama"]);
    assert_eq!(c.providers[0].keys.len(), 2);
    assert_eq!(c.providers[1].base_url, "https://api.groq.com/openai/v1");
    assert_eq!(c.providers[2].base_url, "http://10.0.0.5:11434");
    assert!(c.listen.ip().is_loopback());
    // The big providers claim their own model families; the others take any name.
    assert!(c.providers[0].models.contains(&"gpt-*".to_owned()));
    assert_eq!(c.providers[1].models, vec!["*"]);
    assert_eq!(c.providers[2].models, vec!["*"]);
    let both = from_env(&|k| match k {
        "OPENAI_API_KEY" | "ANTHROPIC_API_KEY" => Some("k".into()),
        _ => None,
    })
    .expect("env config");
    let names = |model: &str| -> Vec<String> {
        crate::routing::resolve_places(&both, model, true)
            .1
            .iter()
            .map(|c| both.providers[c.0].name.clone())
            .collect()
    };
    assert_eq!(names("claude-sonnet-4-5"), vec!["anthropic", "ollama"]);
    assert_eq!(names("gpt-4o"), vec!["openai", "ollama"]);
    assert_eq!(names("llama3.2"), vec!["ollama"]);
}

#[test]
fn gemini_is_a_native_provider_type() {
    let c = from_env(&|k| match k {
        "GEMINI_API_KEY" => Some("AIza".into()),
        _ => None,
    })
    .expect("env config");
    let gemini = &c.providers[0];
    assert_eq!(gemini.name, "gemini");
    assert_eq!(gemini.kind, lmrelay_providers::ProviderKind::Gemini);
    assert_eq!(gemini.base_url, "https://generativelanguage.googleapis.com");
    assert!(gemini.models.contains(&"gemini-*".to_owned()));
    let file = parse("[[providers]]\nname = \"g\"\ntype = \"gemini\"\nkeys = [\"k\"]\nmodels = [\"gemini-2.5-flash\"]\n")
        .expect("gemini is available");
    assert_eq!(
        file.providers[0].kind,
        lmrelay_providers::ProviderKind::Gemini
    );
    assert_eq!(
        file.providers[0].base_url,
        "https://generativelanguage.googleapis.com"
    );
}

#[test]
fn type_errors_never_show_values_from_the_environment() {
    let errs = parse("[[providers]]\nname = \"a\"\ntype = \"openai\"\nmodels = [\"m\"]\nkeys = \"${OPENAI_KEY_A}\"\n")
        .expect_err("keys must be a list")
        .0;
    let shown = ConfigErrors(errs).to_string();
    assert!(shown.contains("providers[0].keys"), "{shown}");
    assert!(!shown.contains("sk-a"), "{shown}");
}

#[test]
fn routing_sections_are_validated_and_the_script_compiled() {
    let dir = std::env::temp_dir().join(format!("lmrelay-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.rhai");
    std::fs::write(&bad, "fn route(ctx) { [ }").expect("write");
    let good = dir.join("good.rhai");
    std::fs::write(&good, "fn route(ctx) { ctx.candidates.map(|c| c.target) }").expect("write");
    let text = |script: &std::path::Path| {
        format!(
            r#"
[health]
failure_threshold = 0
cooldown = "0s"
exploration = 0.9
[routing]
script = "{}"
[[providers]]
name = "p"
type = "openai"
models = ["*"]
header_timeout = "0s"
[[routes]]
model = "r"
targets = ["p/m"]
max_attempts = 0
[[rules]]
match = {{ protocol = "carrier-pigeon" }}
targets = ["nowhere/m"]
strategy = "fastest"
"#,
            script.display()
        )
    };
    let errs = parse(&text(&bad)).expect_err("invalid").0;
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "health.failure_threshold",
        "health.cooldown",
        "health.exploration",
        "routing.script",
        "providers[0].header_timeout",
        "routes[0].max_attempts",
        "rules[0].match.protocol",
        "rules[0].targets",
        "rules[0].strategy",
    ] {
        assert!(fields.contains(&f), "no error for {f}: {errs:?}");
    }
    let script = errs
        .iter()
        .find(|e| e.field == "routing.script")
        .expect("script");
    assert!(script.message.contains("bad.rhai"), "{}", script.message);
    // The good script compiles; the other errors remain.
    let errs = parse(&text(&good)).expect_err("invalid").0;
    assert!(
        !errs.iter().any(|e| e.field == "routing.script"),
        "{errs:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn azure_and_cohere_are_native_provider_types() {
    let c = parse(concat!(
        "[[providers]]\nname = \"az\"\ntype = \"azure\"\nbase_url = \"https://r.openai.azure.com\"\n",
        "api_version = \"2024-10-21\"\nkeys = [\"k\"]\nmodels = [\"gpt-4o\"]\n",
        "deployments = { \"gpt-4o\" = \"gpt4o-prod\" }\n",
        "[[providers]]\nname = \"co\"\ntype = \"cohere\"\nkeys = [\"k\"]\nmodels = [\"command-r\"]\n",
    ))
    .expect("azure and cohere are available");
    let az = &c.providers[0];
    let lmrelay_providers::ProviderKind::Azure(settings) = az.kind else {
        panic!("azure kind, got {:?}", az.kind)
    };
    assert_eq!(settings.api_version, "2024-10-21");
    assert_eq!(settings.deployments["gpt-4o"], "gpt4o-prod");
    assert_eq!(az.api_version.as_deref(), Some("2024-10-21"));
    assert_eq!(az.deployments["gpt-4o"], "gpt4o-prod");
    let co = &c.providers[1];
    assert_eq!(co.kind, lmrelay_providers::ProviderKind::Cohere);
    assert_eq!(co.base_url, "https://api.cohere.com");
}

#[test]
fn azure_needs_a_base_url_and_an_api_version() {
    let errs = parse("[[providers]]\nname = \"az\"\ntype = \"azure\"\nkeys = [\"k\"]\nmodels = [\"gpt-4o\"]\ndeployments = { \"gpt-4o\" = \"a/b\" }\n")
        .expect_err("incomplete azure provider")
        .0;
    let shown = ConfigErrors(errs).to_string();
    assert!(shown.contains("providers[0].base_url"), "{shown}");
    assert!(shown.contains("providers[0].api_version"), "{shown}");
    assert!(shown.contains("providers[0].deployments.gpt-4o"), "{shown}");
    let errs = parse("[[providers]]\nname = \"o\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"m\"]\napi_version = \"2024-10-21\"\n")
        .expect_err("api_version is azure's")
        .0;
    let shown = ConfigErrors(errs).to_string();
    assert!(shown.contains("providers[0].api_version"), "{shown}");
}

#[test]
fn openai_providers_can_be_asked_through_responses() {
    let c = parse(concat!(
        "[[providers]]\nname = \"all\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"*\"]\napi = \"responses\"\n",
        "[[providers]]\nname = \"some\"\ntype = \"openrouter\"\nkeys = [\"k\"]\nmodels = [\"*\"]\nresponses_models = [\"o4-*\"]\n",
        "[[providers]]\nname = \"none\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"*\"]\napi = \"chat\"\n",
    ))
    .expect("the switch is valid on openai types");
    assert_eq!(c.providers[0].responses_models, ["*"]);
    assert_eq!(c.providers[1].responses_models, ["o4-*"]);
    assert!(c.providers[2].responses_models.is_empty());
    for (text, field) in [
        ("[[providers]]\nname = \"a\"\ntype = \"anthropic\"\nkeys = [\"k\"]\nmodels = [\"*\"]\napi = \"responses\"\n", "providers[0].api"),
        ("[[providers]]\nname = \"a\"\ntype = \"ollama\"\nmodels = [\"*\"]\nresponses_models = [\"x\"]\n", "providers[0].responses_models"),
        ("[[providers]]\nname = \"o\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"*\"]\napi = \"assistants\"\n", "providers[0].api"),
    ] {
        let shown = ConfigErrors(parse(text).expect_err("refused").0).to_string();
        assert!(shown.contains(field), "{shown}");
    }
}

#[test]
fn kept_responses_are_off_unless_configured() {
    let c = parse("").expect("empty config");
    assert!(!c.responses.store);
    let c = parse("[responses]\nstore = true\nttl = \"2h\"\n").expect("valid");
    assert!(c.responses.store);
    assert_eq!(c.responses.ttl, std::time::Duration::from_secs(7200));
    let shown = ConfigErrors(parse("[responses]\nttl = \"0s\"\n").expect_err("zero").0).to_string();
    assert!(shown.contains("responses.ttl"), "{shown}");
}

#[test]
fn bedrock_takes_its_region_and_credentials() {
    let text = "[[providers]]\nname = \"b\"\ntype = \"bedrock\"\naws_region = \"eu-west-3\"\nregion = \"eu\"\nkeys = [\"AKID:SECRET\"]\nmodels = [\"anthropic.claude-3-5-haiku-20241022-v1:0\"]\n";
    let c = parse(text).expect("bedrock is available");
    let b = &c.providers[0];
    assert_eq!(b.kind, lmrelay_providers::ProviderKind::Bedrock);
    assert_eq!(
        b.base_url,
        "https://bedrock-runtime.eu-west-3.amazonaws.com"
    );
    assert_eq!(b.aws_region.as_deref(), Some("eu-west-3"));
    assert_eq!(b.region.as_deref(), Some("eu"));
    assert_eq!(b.keys.len(), 1);

    // No keys: the standard AWS environment, with a session token when there is one.
    let no_keys = "[[providers]]\nname = \"b\"\ntype = \"bedrock\"\naws_region = \"us-east-1\"\nmodels = [\"*\"]\n";
    let aws_env = |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIA1".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("s3cr/et".into()),
        "AWS_SESSION_TOKEN" => Some("tok".into()),
        _ => None,
    };
    let c = parse_str(no_keys, Format::Toml, "t.toml", &aws_env).expect("env credentials");
    assert_eq!(c.providers[0].keys[0].expose(), "AKIA1:s3cr/et:tok");
    let bearer = |k: &str| (k == "AWS_BEARER_TOKEN_BEDROCK").then(|| "ABSK-x".to_owned());
    let c = parse_str(no_keys, Format::Toml, "t.toml", &bearer).expect("API key");
    assert_eq!(c.providers[0].keys[0].expose(), "ABSK-x");

    // Neither: a clear error, as is a missing region or a misshapen key.
    let errs = parse(no_keys).expect_err("no credentials").0;
    assert!(
        errs.iter()
            .any(|e| e.field == "providers[0].keys" && e.message.contains("AWS_ACCESS_KEY_ID")),
        "{errs:?}"
    );
    let bad =
        "[[providers]]\nname = \"b\"\ntype = \"bedrock\"\nkeys = [\"AKID:\"]\nmodels = [\"*\"]\n";
    let errs = parse(bad).expect_err("no region, bad key").0;
    assert!(
        errs.iter().any(|e| e.field == "providers[0].aws_region"),
        "{errs:?}"
    );
    let key_error = errs
        .iter()
        .find(|e| e.field == "providers[0].keys[0]")
        .expect("the key's shape is checked");
    assert!(!key_error.message.contains("AKID"));
    // aws_region on another type is a mistake for `region`.
    let errs = parse("[[providers]]\nname = \"o\"\ntype = \"openai\"\naws_region = \"us-east-1\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n")
        .expect_err("not bedrock")
        .0;
    assert!(errs.iter().any(|e| e.field == "providers[0].aws_region"));
}

/// examples/free-tier.toml: with its variables set it loads as one failover route over
/// seven hosted free tiers and a local Ollama, keys and the Cloudflare account from the
/// environment; with one missing it is refused, naming the variable.
#[test]
fn the_free_tier_example_loads_with_its_variables_set() {
    const VARS: &[&str] = &[
        "GROQ_API_KEY",
        "CEREBRAS_API_KEY",
        "NVIDIA_API_KEY",
        "HF_TOKEN",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "OPENROUTER_API_KEY",
        "GEMINI_API_KEY",
    ];
    let text = include_str!("../../../../examples/free-tier.toml");
    let set = |k: &str| VARS.contains(&k).then(|| format!("v-{}", k.to_lowercase()));
    let c = parse_str(text, Format::Toml, "free-tier.toml", &set).expect("valid");
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "groq",
            "cerebras",
            "nvidia",
            "huggingface",
            "cloudflare",
            "openrouter",
            "gemini",
            "local"
        ]
    );
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].model, "free");
    let order: Vec<&str> = c.routes[0]
        .targets
        .iter()
        .map(|t| t.provider.as_str())
        .collect();
    assert_eq!(order, names, "one target per provider, Ollama last");
    assert_eq!(c.routes[0].targets[2].model, "meta/llama-3.3-70b-instruct");
    let by = |n: &str| c.providers.iter().find(|p| p.name == n).expect("present");
    assert_eq!(
        by("cloudflare").base_url,
        "https://api.cloudflare.com/client/v4/accounts/v-cloudflare_account_id/ai/v1"
    );
    assert_eq!(by("groq").keys[0].expose(), "v-groq_api_key");
    assert_eq!(
        by("huggingface").base_url,
        "https://router.huggingface.co/v1"
    );
    assert_eq!(
        by("openrouter").headers,
        vec![("x-title".to_owned(), "lmrelay free tier".to_owned())]
    );
    assert!(by("local").keys.is_empty());

    let missing = |k: &str| (k != "HF_TOKEN").then(|| set(k)).flatten();
    let errs = parse_str(text, Format::Toml, "free-tier.toml", &missing).expect_err("refused");
    assert!(errs.to_string().contains("HF_TOKEN"), "{errs}");
}

#[test]
fn provider_headers_refuse_credentials_and_other_types() {
    let p = |kind: &str, headers: &str| {
        parse(&format!(
            "[[providers]]\nname = \"p\"\ntype = \"{kind}\"\nkeys = [\"k\"]\nmodels = [\"*\"]\nheaders = {headers}\n"
        ))
    };
    let c = p(
        "openrouter",
        "{ \"HTTP-Referer\" = \"https://example.org\" }",
    )
    .expect("valid");
    assert_eq!(
        c.providers[0].headers,
        vec![("http-referer".to_owned(), "https://example.org".to_owned())]
    );
    for bad in ["Authorization", "x-api-key", "Host", "bad name"] {
        let errs = p("openai", &format!("{{ \"{bad}\" = \"v\" }}")).expect_err("refused");
        assert!(
            errs.0
                .iter()
                .any(|e| e.field.starts_with("providers[0].headers")),
            "{bad}: {errs}"
        );
    }
    let errs = p("anthropic", "{ \"X-Title\" = \"a\" }").expect_err("refused");
    assert!(errs.0.iter().any(|e| e.field == "providers[0].headers"));
}

#[test]
fn built_in_default_fills_the_cloudflare_account_into_the_url() {
    let c = from_env(&|k| match k {
        "CLOUDFLARE_API_TOKEN" => Some("cf".into()),
        "CLOUDFLARE_ACCOUNT_ID" => Some(" acct42 ".into()),
        _ => None,
    })
    .expect("env config");
    let cf = c
        .providers
        .iter()
        .find(|p| p.name == "cloudflare")
        .expect("cloudflare with its account");
    assert_eq!(
        cf.base_url,
        "https://api.cloudflare.com/client/v4/accounts/acct42/ai/v1"
    );
}

#[test]
fn telemetry_from_the_section_or_the_standard_environment() {
    let c = parse(
        "[telemetry]\nendpoint = \"http://collector:4318\"\nsample_ratio = 0.25\n\
         headers = { Authorization = \"Bearer t\" }\n",
    )
    .expect("valid");
    let t = c.telemetry.expect("on");
    assert_eq!(t.endpoint.as_deref(), Some("http://collector:4318"));
    assert_eq!(t.service_name, "lmrelay");
    assert_eq!(t.sample_ratio, 0.25);
    assert_eq!(t.headers[0].0, "authorization");
    assert_eq!(t.headers[0].1.expose(), "Bearer t");

    let errs = parse("[telemetry]\nendpoint = \"collector:4318\"\nsample_ratio = 2.0\n")
        .expect_err("invalid");
    let text = errs.to_string();
    assert!(text.contains("telemetry.endpoint"), "{text}");
    assert!(text.contains("telemetry.sample_ratio"), "{text}");
    // Without an endpoint the environment must name one.
    let errs = parse("[telemetry]\n").expect_err("no collector");
    assert!(errs.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));

    // No section: off, unless the environment names a collector (and does not disable it).
    assert!(parse("").expect("valid").telemetry.is_none());
    let otel = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://c:4318".to_owned()),
        "OTEL_SERVICE_NAME" => Some("gateway-eu".to_owned()),
        _ => None,
    };
    let c = parse_str("", Format::Toml, "t.toml", &otel).expect("valid");
    let t = c.telemetry.expect("on from the environment");
    assert_eq!((t.endpoint, t.service_name.as_str()), (None, "gateway-eu"));
    assert!(
        from_env(&otel).expect("env config").telemetry.is_some(),
        "the embedded default too"
    );
    let disabled = |k: &str| match k {
        "OTEL_SDK_DISABLED" => Some("true".to_owned()),
        _ => otel(k),
    };
    assert!(from_env(&disabled).expect("env config").telemetry.is_none());
}

#[test]
fn allowed_betas_default_and_only_for_anthropic() {
    let c = parse(
        "[[providers]]\nname = \"an\"\ntype = \"anthropic\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n\
         [[providers]]\nname = \"an2\"\ntype = \"anthropic\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n\
         allowed_betas = [\"*\"]\n",
    )
    .expect("valid");
    assert!(c.providers[0]
        .allowed_betas
        .iter()
        .any(|b| b == "claude-code-*"));
    assert!(!c.providers[0]
        .allowed_betas
        .iter()
        .any(|b| b.starts_with("mcp")));
    assert_eq!(c.providers[1].allowed_betas, ["*"]);
    let errs = parse(
        "[[providers]]\nname = \"oa\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n\
         allowed_betas = [\"x\"]\n",
    )
    .expect_err("openai has no betas");
    assert!(errs.to_string().contains("allowed_betas"), "{errs}");
}

#[test]
fn built_in_default_takes_its_address_and_gateway_keys_from_the_environment() {
    let c = from_env(&|k| match k {
        "LMRELAY_LISTEN" => Some("0.0.0.0:9000".into()),
        "LMRELAY_GATEWAY_KEYS" => Some("gk-one, gk-two".into()),
        _ => None,
    })
    .expect("env config");
    assert_eq!(c.listen.port(), 9000);
    let names: Vec<&str> = c.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["env-1", "env-2"]);
    assert_eq!(c.keys[0].models, ["*"]);
    // Beyond loopback without a key: refused, naming what to set.
    let err = from_env(&|k| (k == "LMRELAY_LISTEN").then(|| "0.0.0.0:8080".to_owned()))
        .expect_err("open to the network");
    assert!(err.to_string().contains("LMRELAY_GATEWAY_KEYS"), "{err}");
    let err = from_env(&|k| (k == "LMRELAY_LISTEN").then(|| "nowhere".to_owned()))
        .expect_err("not an address");
    assert!(err.to_string().contains("LMRELAY_LISTEN"), "{err}");
}
