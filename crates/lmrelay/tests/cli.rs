//! The command line: check, models, hash-key, run, and serve's refusal of a bad config.

use std::process::Command;

fn lmrelay() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lmrelay"));
    c.env_remove("LMRELAY_CONFIG");
    for var in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GROQ_API_KEY",
        "OLLAMA_HOST",
    ] {
        c.env_remove(var);
    }
    c
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lmrelay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const GOOD: &str = r#"
[[providers]]
name = "oa"
type = "openai"
keys = ["sk-secret-value"]
models = ["gpt-4o"]
[[providers]]
name = "local"
type = "ollama"
models = ["*"]
[[routes]]
model = "chat"
targets = ["oa/gpt-4o", "local/llama3.2"]
"#;

#[test]
fn check_prints_the_resolved_config_without_secrets() {
    let p = write("good.toml", GOOD);
    let out = lmrelay()
        .args(["check", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("oa (openai) https://api.openai.com/v1 keys=1"),
        "{text}"
    );
    assert!(text.contains("chat -> oa/gpt-4o, local/llama3.2"), "{text}");
    assert!(!text.contains("sk-secret-value"), "{text}");
    assert!(!text.contains("warning:"), "{text}");
    // A setting that would do nothing is named, and the config still passes.
    let p = write(
        "inactive.toml",
        &format!(
            "{GOOD}
[[routes]]
model = \"shared\"
targets = [\"oa/gpt-4o\"]
cache_shared = true
"
        ),
    );
    let out = lmrelay()
        .args(["check", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: routes[1].cache_shared (`shared`): the route does not cache"),
        "{text}"
    );
}

#[test]
fn check_reports_every_error_and_exits_1() {
    let p = write("bad.yaml", "providers:\n  - name: a\n    type: nope\n    models: [m]\nroutes:\n  - model: x\n    targets: [ghost/m]\n");
    let out = lmrelay()
        .args(["check", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3: providers[0].type"), "{err}");
    assert!(err.contains("routes[0].targets"), "{err}");
    assert!(err.contains("2 error(s)"), "{err}");
    let out = lmrelay()
        .args(["serve", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "serve refuses a bad config");
}

#[test]
fn check_reads_the_tls_files_the_config_names() {
    let p = write(
        "tls.toml",
        "[server.tls]\ncert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n[[providers]]\nname = \"p\"\ntype = \"openai\"\nbase_url = \"https://example.test/v1\"\nmodels = [\"m\"]\nca_file = \"missing-ca.pem\"\n",
    );
    let out = lmrelay()
        .args(["check", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.tls.cert") && err.contains("missing-cert.pem"),
        "{err}"
    );
    assert!(
        err.contains("providers `p`") && err.contains("missing-ca.pem"),
        "{err}"
    );
    assert!(err.contains("2 file(s)"), "{err}");
}

#[test]
fn models_prints_the_public_table() {
    let p = write("models.toml", GOOD);
    let out = lmrelay()
        .args(["models", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("chat -> oa/gpt-4o, local/llama3.2"), "{text}");
    assert!(text.contains("gpt-4o -> oa/gpt-4o, local/gpt-4o"), "{text}");
    assert!(text.contains("* -> local/"), "{text}");
}

#[test]
fn hash_key_and_run() {
    let out = lmrelay().args(["hash-key", "test"]).output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    let mut child = lmrelay()
        .arg("hash-key")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"test\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("9f86d081884c7d65"),
        "key from stdin"
    );
    let p = write("run.toml", "listen = \"127.0.0.1:9099\"\n");
    let out = lmrelay()
        .args(["run", "-c"])
        .arg(&p)
        .args([
            "sh",
            "-c",
            "echo $OPENAI_BASE_URL $ANTHROPIC_BASE_URL $OLLAMA_HOST; exit 4",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "http://127.0.0.1:9099/v1 http://127.0.0.1:9099 http://127.0.0.1:9099"
    );
    // Codex CLI reads providers from config: it gets one named lmrelay, by `-c` overrides.
    let dir = p.parent().expect("dir").join("bin");
    std::fs::create_dir_all(&dir).expect("dir");
    let codex = dir.join("codex");
    std::fs::write(
        &codex,
        "#!/bin/sh\nprintf '%s\\n' \"$@\"\necho \"key=$LMRELAY_API_KEY\"\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = lmrelay()
        .args(["run", "-c"])
        .arg(&p)
        .arg(&codex)
        .args(["exec", "hi"])
        .env("LMRELAY_API_KEY", "gw-key")
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "-c",
            "model_providers.lmrelay={name=\"lmrelay\",base_url=\"http://127.0.0.1:9099/v1\",\
             env_key=\"LMRELAY_API_KEY\",wire_api=\"responses\"}",
            "-c",
            "model_provider=\"lmrelay\"",
            "exec",
            "hi",
            "key=gw-key",
        ]
    );
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/with-mock.toml");
    let out = lmrelay()
        .args(["check", "-c", example])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_takes_bedrock_credentials_from_the_aws_environment() {
    let p = write(
        "bedrock.toml",
        "[[providers]]\nname = \"br\"\ntype = \"bedrock\"\naws_region = \"eu-central-1\"\nregion = \"eu\"\nmodels = [\"amazon.nova-lite-v1:0\"]\n",
    );
    let aws = |c: &mut Command| {
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_BEARER_TOKEN_BEDROCK",
        ] {
            c.env_remove(var);
        }
    };
    let mut with_env = lmrelay();
    aws(&mut with_env);
    let out = with_env
        .env("AWS_ACCESS_KEY_ID", "AKIACLITEST")
        .env("AWS_SECRET_ACCESS_KEY", "cli-secret-value")
        .args(["check", "-c"])
        .arg(&p)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("br (bedrock) https://bedrock-runtime.eu-central-1.amazonaws.com keys=1"),
        "{text}"
    );
    assert!(text.contains("region=eu"), "{text}");
    assert!(text.contains("aws_region=eu-central-1"), "{text}");
    assert!(
        !text.contains("cli-secret-value") && !text.contains("AKIACLITEST"),
        "{text}"
    );

    let mut without = lmrelay();
    aws(&mut without);
    let out = without.args(["check", "-c"]).arg(&p).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("providers[0].keys") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
}

#[test]
fn logs_can_be_json_lines() {
    // A Redis where none listens: serve logs its config, then the failure, and exits 1.
    let p = write(
        "json-logs.toml",
        "listen = \"127.0.0.1:0\"\n[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\ntimeout = \"200ms\"\n[[providers]]\nname = \"local\"\ntype = \"ollama\"\nmodels = [\"*\"]\n",
    );
    let out = lmrelay()
        .args(["serve", "-c"])
        .arg(&p)
        .env("LMRELAY_LOG_FORMAT", "json")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["fields"]["message"].is_string()));
    assert!(lines.iter().any(|l| l["level"] == "ERROR"), "{stderr}");
}

#[test]
fn version_names_the_commit() {
    let out = lmrelay().arg("--version").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("lmrelay {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn init_writes_a_config_that_check_accepts() {
    let dir = std::env::temp_dir().join(format!("lmrelay-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("lmrelay.toml");
    let out = lmrelay()
        .env("ANTHROPIC_API_KEY", "sk-ant-secret")
        .args(["init", "-o"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(text.contains("${ANTHROPIC_API_KEY}") && !text.contains("sk-ant-secret"));
    let out = lmrelay()
        .env("ANTHROPIC_API_KEY", "sk-ant-secret")
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("anthropic (anthropic)"), "{printed}");
    // It does not overwrite without --force.
    let again = lmrelay()
        .args(["init", "-o"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn healthcheck_asks_the_running_gateway() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    // Nothing listens yet: unhealthy.
    let out = lmrelay()
        .env("LMRELAY_LISTEN", &listen)
        .arg("healthcheck")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let dir = std::env::temp_dir().join(format!("lmrelay-hc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The built-in default (no config file), with its address from the environment.
    let mut server = lmrelay()
        .current_dir(&dir)
        .env("LMRELAY_LISTEN", &listen)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let mut healthy = false;
    for _ in 0..100 {
        let out = lmrelay()
            .env("LMRELAY_LISTEN", &listen)
            .arg("healthcheck")
            .output()
            .expect("run");
        if out.status.success() {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(healthy, "the gateway never answered /healthz");
}
