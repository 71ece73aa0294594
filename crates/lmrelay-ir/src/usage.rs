//! Token usage in one convention for every provider.

/// Token counts, normalised to OpenAI's convention: `input` **includes** cache reads and
/// writes, and `output` **includes** reasoning tokens. Codecs for formats that count otherwise
/// (Anthropic's `input_tokens` excludes cache tokens) convert at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Reasoning tokens, a part of `output`, when the upstream reports them.
    pub reasoning: Option<u64>,
}

// === impl Usage ===

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.output
    }

    /// Input tokens that were neither read from nor written to a cache (Anthropic's
    /// `input_tokens`).
    pub fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_write)
    }

    /// Builds a usage from Anthropic-style counts, where input excludes cache tokens.
    pub fn from_uncached(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Self {
        Usage {
            input: input + cache_read + cache_write,
            output,
            cache_read,
            cache_write,
            reasoning: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_counts_fold_cache_into_input() {
        let u = Usage::from_uncached(10, 5, 1000, 20);
        assert_eq!(u.input, 1030);
        assert_eq!(u.uncached_input(), 10);
        assert_eq!(u.total(), 1035);
    }
}
