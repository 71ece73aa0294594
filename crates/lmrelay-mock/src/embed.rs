//! Deterministic embedding vectors: a hash of the input text stretched into
//! `dims` values, L2-normalised, plus the OpenAI base64 (little-endian f32) form.

use serde_json::Value;

use crate::util::{base64_encode, fnv1a, splitmix};

/// Default vector length when the request does not ask for `dimensions`.
pub(crate) const DEFAULT_DIMS: usize = 8;

/// A unit vector of length `dims` derived from `text` only.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    let seed = fnv1a(text.as_bytes());
    let mut v: Vec<f32> = (0..dims as u64)
        .map(|i| {
            let bits = splitmix(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // Map the top 24 bits to [-1, 1).
            ((bits >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// JSON float array (each `f32` widened exactly to `f64`).
pub(crate) fn as_json_floats(v: &[f32]) -> Value {
    Value::Array(v.iter().map(|x| Value::from(f64::from(*x))).collect())
}

/// Base64 of the little-endian `f32` bytes.
pub(crate) fn as_base64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64_encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_stable() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("hellp", 8));
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert_eq!(vector("x", 3).len(), 3);
    }
}
