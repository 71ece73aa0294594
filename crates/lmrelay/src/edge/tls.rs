//! TLS termination with rustls: the certificate chain and key from `[server.tls]`, read at
//! start and again at every reload (so a renewed certificate is served without a restart),
//! HTTP/2 and HTTP/1.1 offered through ALPN.

use crate::config::TlsFiles;
use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// Why a certificate could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.cert `{path}`: {why}")]
    Cert { path: String, why: String },
    #[error("server.tls.key `{path}`: {why}")]
    Key { path: String, why: String },
    #[error("server.tls: the key does not match the certificate: {0}")]
    Mismatch(String),
}

/// The certificate the edge serves; swapped whole on reload, read by every handshake.
#[derive(Debug)]
pub struct ServedCert {
    current: ArcSwap<CertifiedKey>,
}

// === impl ServedCert ===

impl ServedCert {
    pub fn load(files: &TlsFiles) -> Result<ServedCert, TlsError> {
        Ok(ServedCert {
            current: ArcSwap::from(certified_key(files)?),
        })
    }

    /// Reads the files again; on error the certificate served so far stays.
    pub fn reload(&self, files: &TlsFiles) -> Result<(), TlsError> {
        self.current.store(certified_key(files)?);
        Ok(())
    }

    /// The acceptor for the edge: TLS 1.2 and 1.3, `h2` then `http/1.1` offered.
    pub fn acceptor(self: &Arc<Self>) -> tokio_rustls::TlsAcceptor {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl ResolvesServerCert for ServedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The crypto provider (ring, as the upstream client's rustls uses).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_chain(&files.cert).map_err(|why| TlsError::Cert {
        path: files.cert.display().to_string(),
        why,
    })?;
    let key_err = |why: String| TlsError::Key {
        path: files.key.display().to_string(),
        why,
    };
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_err(pem_error(e)))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_err(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    Ok(Arc::new(certified))
}

/// The PEM certificates of a file, leaf first.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if chain.is_empty() {
        return Err("no PEM certificate in the file".to_owned());
    }
    Ok(chain)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM item of that kind in the file".into()
        }
        other => format!("not valid PEM ({other:?})"),
    }
}
