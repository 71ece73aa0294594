//! Sealed records: secrets kept in the state store (upstream keys added at runtime) are
//! encrypted with AES-256-GCM under `[store] encryption_key`, so the store — and a dump or a
//! backup of it — never holds them in the clear. A sealed value is `nonce ‖ ciphertext ‖
//! tag` with a fresh random 96-bit nonce each time; the caller's context (the record's key)
//! is authenticated with it, so a value opens only where it was sealed for and cannot be
//! moved to another record.

use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::fmt;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Standard base64, with or without padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Seals and opens secrets with one key. `Debug` does not show the key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

/// Why a key could not be used or a sealed value could not be opened. No variant carries
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "the encryption key is not valid base64; it must be 32 random bytes in base64 \
         (e.g. from `openssl rand -base64 32`)"
    )]
    NotBase64,
    #[error(
        "the encryption key is {0} bytes long; it must be 32 random bytes in base64 \
         (e.g. from `openssl rand -base64 32`)"
    )]
    WrongLength(usize),
    #[error("the sealed value is {0} bytes long, too short to be one")]
    Truncated(usize),
    #[error("the sealed value does not open: sealed under another key or context, or altered")]
    Open,
}

// === impl Sealer ===

impl Sealer {
    /// A sealer from a base64 32-byte key (surrounding whitespace is ignored).
    pub fn from_base64(encoded: &str) -> Result<Sealer, SealError> {
        let mut key = BASE64
            .decode(encoded.trim())
            .map_err(|_| SealError::NotBase64)?;
        let cipher = if key.len() == KEY_LEN {
            Aes256Gcm::new_from_slice(&key).map_err(|_| SealError::WrongLength(key.len()))
        } else {
            Err(SealError::WrongLength(key.len()))
        };
        // Best effort: the decoded key does not outlive this call.
        key.fill(0);
        std::hint::black_box(&key);
        Ok(Sealer { cipher: cipher? })
    }

    /// Encrypts `plaintext`, authenticating `context` with it: `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Panics
    /// On more than 64 GiB of plaintext (the AES-GCM limit), or if the operating system's
    /// random number generator fails.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, context, &mut sealed[NONCE_LEN..])
            .expect("AES-GCM seals up to 64 GiB");
        sealed.extend_from_slice(&tag);
        sealed
    }

    /// Decrypts what [`Sealer::seal`] made with the same key and `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated(sealed.len()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plaintext = ciphertext.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                context,
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| SealError::Open)?;
        Ok(plaintext)
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; KEY_LEN])
    }

    #[test]
    fn round_trip() {
        let sealer = Sealer::from_base64(&key(7)).unwrap();
        for plaintext in [&b""[..], b"sk-secret", &[0xff; 1000]] {
            let sealed = sealer.seal(plaintext, b"upstream/openai/1");
            assert_eq!(sealed.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
            assert_eq!(
                sealer.open(&sealed, b"upstream/openai/1").unwrap(),
                plaintext
            );
        }
    }

    #[test]
    fn the_context_must_match() {
        let sealer = Sealer::from_base64(&key(7)).unwrap();
        let sealed = sealer.seal(b"sk-secret", b"upstream/openai/1");
        assert_eq!(
            sealer.open(&sealed, b"upstream/openai/2"),
            Err(SealError::Open)
        );
        assert_eq!(sealer.open(&sealed, b""), Err(SealError::Open));
    }

    #[test]
    fn any_altered_byte_fails() {
        let sealer = Sealer::from_base64(&key(7)).unwrap();
        let sealed = sealer.seal(b"sk-secret", b"ctx");
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert_eq!(
                sealer.open(&altered, b"ctx"),
                Err(SealError::Open),
                "byte {i}"
            );
        }
        assert_eq!(
            sealer.open(&sealed[..sealed.len() - 1], b"ctx"),
            Err(SealError::Open)
        );
        assert_eq!(
            sealer.open(&sealed[..27], b"ctx"),
            Err(SealError::Truncated(27))
        );
        assert_eq!(sealer.open(&[], b"ctx"), Err(SealError::Truncated(0)));
    }

    #[test]
    fn another_key_fails() {
        let sealed = Sealer::from_base64(&key(7))
            .unwrap()
            .seal(b"sk-secret", b"ctx");
        let other = Sealer::from_base64(&key(8)).unwrap();
        assert_eq!(other.open(&sealed, b"ctx"), Err(SealError::Open));
    }

    #[test]
    fn seals_differ_each_time() {
        let sealer = Sealer::from_base64(&key(7)).unwrap();
        let (a, b) = (sealer.seal(b"same", b"ctx"), sealer.seal(b"same", b"ctx"));
        assert_ne!(a, b);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn bad_keys_are_named() {
        assert_eq!(
            Sealer::from_base64("not base64!").unwrap_err(),
            SealError::NotBase64
        );
        assert_eq!(
            Sealer::from_base64("").unwrap_err(),
            SealError::WrongLength(0)
        );
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert_eq!(
            Sealer::from_base64(&short).unwrap_err(),
            SealError::WrongLength(16)
        );
        let long = base64::engine::general_purpose::STANDARD.encode([1u8; 33]);
        assert_eq!(
            Sealer::from_base64(&long).unwrap_err(),
            SealError::WrongLength(33)
        );
        assert!(SealError::WrongLength(16).to_string().contains("32"));
        // Padding is optional and surrounding whitespace (a trailing newline) is ignored.
        let padded = key(9);
        let unpadded = padded.trim_end_matches('=');
        assert_ne!(padded, unpadded);
        let sealed = Sealer::from_base64(unpadded).unwrap().seal(b"x", b"ctx");
        let opened = Sealer::from_base64(&format!(" {padded}\n"))
            .unwrap()
            .open(&sealed, b"ctx");
        assert_eq!(opened.unwrap(), b"x");
    }

    #[test]
    fn debug_hides_the_key() {
        let encoded = key(0x41);
        let printed = format!("{:?}", Sealer::from_base64(&encoded).unwrap());
        assert_eq!(printed, "Sealer(***)");
        assert!(!printed.contains(&encoded[..8]));
    }
}
