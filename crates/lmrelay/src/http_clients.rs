//! The HTTP clients that reach upstreams, kept across reloads: a runtime built again with a
//! provider's connect timeout and TLS material unchanged gets the client it had, and with it
//! the warm connection pool (and TLS sessions) of the runtime before. Clients are told apart
//! by what they are built from — the TLS files' contents, not their names — so a certificate
//! renewed in place makes a new client at the next reload.

use crate::config::UpstreamTls;
use crate::runtime::RuntimeError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What one client is built from (its `Debug` names the files, never their contents: one
/// holds a private key).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSpec {
    connect: Duration,
    /// Trusted CA certificates (PEM), and the file they came from (for errors).
    ca: Option<(PathBuf, Vec<u8>)>,
    /// The client certificate chain and key (PEM, one after the other), and the key's file.
    identity: Option<(PathBuf, Vec<u8>)>,
}

/// The clients built so far, by spec. Read when a runtime is built (start and reloads),
/// never on the request path.
#[derive(Default)]
pub struct HttpClients {
    built: Mutex<Vec<(ClientSpec, reqwest::Client)>>,
}

// === impl ClientSpec ===

impl std::fmt::Debug for ClientSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSpec")
            .field("connect", &self.connect)
            .field("ca_file", &self.ca.as_ref().map(|(p, _)| p))
            .field("client_key", &self.identity.as_ref().map(|(p, _)| p))
            .finish()
    }
}

impl ClientSpec {
    /// Reads a provider's TLS files.
    pub fn read(connect: Duration, tls: &UpstreamTls) -> Result<Self, RuntimeError> {
        let ca = match &tls.ca_file {
            Some(path) => Some((path.clone(), read_pem(path)?)),
            None => None,
        };
        let identity = match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_pem(cert)?;
                pem.push(b'\n');
                pem.extend(read_pem(key)?);
                Some((key.clone(), pem))
            }
            _ => None,
        };
        Ok(ClientSpec {
            connect,
            ca,
            identity,
        })
    }

    /// Builds the client: pooled, `TCP_NODELAY`, no redirects, the spec's CA and identity.
    pub fn build(&self) -> Result<reqwest::Client, RuntimeError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lmrelay/", env!("CARGO_PKG_VERSION")));
        if let Some((path, pem)) = &self.ca {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| tls_error(path, &e))?;
            if certs.is_empty() {
                return Err(RuntimeError::Tls {
                    path: path.display().to_string(),
                    why: "no PEM certificate in the file".into(),
                });
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((path, pem)) = &self.identity {
            let identity = reqwest::Identity::from_pem(pem).map_err(|e| tls_error(path, &e))?;
            b = b.identity(identity);
        }
        Ok(b.build()?)
    }
}

// === impl HttpClients ===

impl HttpClients {
    /// The client for `spec`: the one built for an equal spec before, or a new one.
    pub fn get(&self, spec: &ClientSpec) -> Result<reqwest::Client, RuntimeError> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = built.iter().find(|(s, _)| s == spec) {
            return Ok(c.clone());
        }
        let c = spec.build()?;
        built.push((spec.clone(), c.clone()));
        Ok(c)
    }

    /// Forgets the clients of specs the newest runtime does not use (the runtime before
    /// keeps its own copies until it is dropped).
    pub fn keep_only(&self, used: &[ClientSpec]) {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        built.retain(|(s, _)| used.contains(s));
    }

    /// How many clients are kept.
    pub fn len(&self) -> usize {
        self.built.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    std::fs::read(path).map_err(|e| tls_error(path, &e))
}

fn tls_error(path: &Path, e: &dyn std::error::Error) -> RuntimeError {
    RuntimeError::Tls {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["ca.test".into()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).expect("cert").pem()
    }

    #[test]
    fn an_unchanged_spec_gets_its_client_again_and_a_renewed_file_a_new_one() {
        let dir = std::env::temp_dir().join(format!("lmrelay-clients-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_pem()).expect("write");
        let tls = UpstreamTls {
            ca_file: Some(ca.clone()),
            ..UpstreamTls::default()
        };
        let clients = HttpClients::default();
        let plain =
            ClientSpec::read(Duration::from_secs(5), &UpstreamTls::default()).expect("spec");
        let with_ca = ClientSpec::read(Duration::from_secs(5), &tls).expect("spec");
        clients.get(&plain).expect("client");
        clients.get(&with_ca).expect("client");
        // A reload with the same settings: the same clients.
        let none = UpstreamTls::default();
        for t in [&none, &tls] {
            clients
                .get(&ClientSpec::read(Duration::from_secs(5), t).expect("spec"))
                .expect("client");
        }
        assert_eq!(clients.len(), 2);
        // Another timeout, or the CA renewed at the same path: new clients.
        clients
            .get(&ClientSpec::read(Duration::from_secs(6), &UpstreamTls::default()).expect("spec"))
            .expect("client");
        std::fs::write(&ca, ca_pem()).expect("write");
        let renewed = ClientSpec::read(Duration::from_secs(5), &tls).expect("spec");
        assert_ne!(renewed, with_ca);
        clients.get(&renewed).expect("client");
        assert_eq!(clients.len(), 4);
        // The runtime built last used two of them; the rest are forgotten.
        clients.keep_only(&[plain, renewed]);
        assert_eq!(clients.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
