//! TLS at both ends. The edge terminates TLS from `[server.tls]` (HTTP/2 and HTTP/1.1 by
//! ALPN), serves a renewed certificate after a reload and keeps the old one when the new
//! files are bad; a provider behind mutual TLS is reached with its `ca_file`, `client_cert`
//! and `client_key`, and not without them. Certificates are made by a test CA (rcgen).

use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM and DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params.extended_key_usages = vec![purpose];
        params
            .distinguished_name
            .push(DnType::CommonName, "lmrelay test");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmrelay-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

async fn openai_mock() -> MockServer {
    spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock")
}

/// Runs a gateway on the config file `file`; returns its address and a stop handle.
async fn gateway(file: &Path) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let config = lmrelay::config::load_file(file).expect("valid config");
    let gateway = Gateway::bind(config).await.expect("bind");
    let addr = gateway.local_addr().expect("addr");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = gateway
            .run(async move {
                let _ = rx.await;
            })
            .await;
    });
    (addr, stop)
}

/// A client that trusts `ca_pem` only, and reports the server's certificate.
fn tls_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca"))
        .tls_info(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "over tls"}]})
}

async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json")
}

fn peer_certificate(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("the server's certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_serves_tls_with_http2_and_reloads_its_certificate() {
    let dir = temp_dir("edge");
    let ca = Ca::new("edge CA");
    let first = ca.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    write(&dir, "cert.pem", &first.cert_pem);
    write(&dir, "key.pem", &first.key_pem);
    let mock = openai_mock().await;
    // A fixed port, so that `lmrelay healthcheck -c FILE` can find the gateway from the file.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // Relative paths are read from the config file's folder.
    let file = write(
        &dir,
        "lmrelay.toml",
        &format!(
            r#"listen = "127.0.0.1:{port}"
drain_timeout = "1s"
watch_config = false
[admin]
token = "admin-token"
[health]
interval = "0s"
[server.tls]
cert = "cert.pem"
key = "key.pem"

[[providers]]
name = "oa"
type = "openai"
base_url = "{}"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]
"#,
            mock.base_url()
        ),
    );
    let (addr, stop) = gateway(&file).await;
    let url = format!("https://localhost:{}", addr.port());

    // HTTP/2 through ALPN, a chat answered through the mock.
    let h2 = tls_client(&ca.pem());
    let resp = h2
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat("gpt-4o-mini").to_string())
        .send()
        .await
        .expect("https request");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(peer_certificate(&resp), first.der);
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["object"], "chat.completion");

    // HTTP/1.1 when the client offers only that.
    let h1 = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("ca"))
        .http1_only()
        .build()
        .expect("client");
    let resp = h1.get(format!("{url}/healthz")).send().await.expect("h1");
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(resp.status(), 200);

    // `lmrelay healthcheck -c FILE` asks the config's port over https.
    let file_for_check = file.clone();
    let checked = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lmrelay"))
            .args(["healthcheck", "-c"])
            .arg(&file_for_check)
            .output()
            .expect("run healthcheck")
    })
    .await
    .expect("join");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(plain
        .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
        .send()
        .await
        .is_err());

    // A renewed certificate is served after a reload, to new connections.
    let second = ca.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    write(&dir, "cert.pem", &second.cert_pem);
    write(&dir, "key.pem", &second.key_pem);
    let admin = tls_client(&ca.pem());
    let resp = admin
        .post(format!("{url}/admin/reload"))
        .bearer_auth("admin-token")
        .send()
        .await
        .expect("reload");
    assert_eq!(resp.status(), 200);
    let fresh = tls_client(&ca.pem());
    let resp = fresh
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(peer_certificate(&resp), second.der);

    // A key that does not match its certificate: 422, and the renewed certificate stays.
    write(&dir, "key.pem", &first.key_pem);
    let resp = admin
        .post(format!("{url}/admin/reload"))
        .bearer_auth("admin-token")
        .send()
        .await
        .expect("reload");
    assert_eq!(resp.status(), 422);
    let err = json_of(resp).await;
    let message = err["error"]["message"].as_str().expect("message");
    assert!(message.contains("server.tls"), "{message}");
    let resp = tls_client(&ca.pem())
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(peer_certificate(&resp), second.der);
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_certificates_stop_the_start_with_the_file_named() {
    let dir = temp_dir("bad");
    write(&dir, "cert.pem", "not a certificate");
    write(&dir, "key.pem", "not a key");
    let file = write(
        &dir,
        "lmrelay.toml",
        "listen = \"127.0.0.1:0\"\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    );
    let config = lmrelay::config::load_file(&file).expect("valid config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = match rt.block_on(Gateway::bind(config)) {
        Ok(_) => panic!("started with a bad certificate"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("server.tls.cert") && err.contains("cert.pem"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS front for `mock` that requires a client certificate from `client_ca`, forwarding
/// the decrypted bytes to the mock.
async fn mutual_tls_front(mock: &MockServer, server: &Leaf, client_ca: &Ca) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(client_ca.issuer.der().to_vec()))
        .expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.der.clone())],
            PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("key"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = mock.addr();
    tokio::spawn(async move {
        // Bounded: the test makes a handful of connections.
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_behind_mutual_tls_is_reached_with_its_ca_and_client_certificate() {
    let dir = temp_dir("mtls");
    let server_ca = Ca::new("upstream server CA");
    let client_ca = Ca::new("upstream client CA");
    let server = server_ca.leaf(ExtendedKeyUsagePurpose::ServerAuth);
    let client = client_ca.leaf(ExtendedKeyUsagePurpose::ClientAuth);
    write(&dir, "upstream-ca.pem", &server_ca.pem());
    write(&dir, "client.pem", &client.cert_pem);
    write(&dir, "client.key", &client.key_pem);
    let mock = openai_mock().await;
    let port = mutual_tls_front(&mock, &server, &client_ca).await;
    let base = format!("https://127.0.0.1:{port}/v1");
    let provider = |name: &str, tls: &str| {
        format!(
            "[[providers]]\nname = \"{name}\"\ntype = \"openai\"\nbase_url = \"{base}\"\nkeys = [\"upstream-key\"]\nmodels = [\"gpt-4o-mini\"]\n{tls}\n"
        )
    };
    let file = write(
        &dir,
        "lmrelay.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\ndrain_timeout = \"1s\"\nwatch_config = false\n[health]\ninterval = \"0s\"\n{}{}{}",
            provider(
                "mutual",
                "ca_file = \"upstream-ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = \"client.key\""
            ),
            provider("no-client-cert", "ca_file = \"upstream-ca.pem\""),
            provider("untrusted", ""),
        ),
    );
    let (addr, stop) = gateway(&file).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let ask = |model: &'static str| {
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("http://{addr}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(chat(model).to_string())
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (status, json_of(resp).await)
        }
    };
    let (status, body) = ask("mutual/gpt-4o-mini").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        mock.requests().len(),
        1,
        "the mock answered through the TLS front"
    );
    for model in ["no-client-cert/gpt-4o-mini", "untrusted/gpt-4o-mini"] {
        let (status, body) = ask(model).await;
        assert!(matches!(status, 502 | 503), "{model}: {status} {body}");
        // The client hears no address, file or TLS internals.
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            !message.contains("127.0.0.1") && !message.contains(".pem"),
            "{message}"
        );
    }
    assert_eq!(mock.requests().len(), 1, "nothing else got through");
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_ca_file_is_named_when_the_runtime_is_built() {
    let dir = temp_dir("missing-ca");
    let file = write(
        &dir,
        "lmrelay.toml",
        "listen = \"127.0.0.1:0\"\n[[providers]]\nname = \"p\"\ntype = \"openai\"\nbase_url = \"https://127.0.0.1:1\"\nmodels = [\"m\"]\nca_file = \"nowhere.pem\"\n",
    );
    let config = lmrelay::config::load_file(&file).expect("valid config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = match rt.block_on(Gateway::bind(config)) {
        Ok(_) => panic!("started without its CA file"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("nowhere.pem"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
