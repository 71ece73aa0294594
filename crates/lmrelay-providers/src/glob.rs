//! Glob matching for model names (`gpt-4o*`, `claude-?-*`, `*`) and beta flags.

/// Whether `name` matches `pattern`, where `*` matches any run of characters and `?` one.
pub fn matches(pattern: &str, name: &str) -> bool {
    // Names and patterns are ASCII in practice: compared as bytes, with no allocation (this
    // runs on every request's allowlist and routes). Otherwise `?` must match a whole
    // character, so they are compared as characters.
    if pattern.is_ascii() && name.is_ascii() {
        return wildcard(pattern.as_bytes(), name.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    wildcard(&p, &n, '*', '?')
}

/// `*` matches any run, `?` any one element; linear backtracking to the last star.
fn wildcard<T: PartialEq + Copy>(p: &[T], n: &[T], star_at: T, any: T) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == any || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == star_at {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == star_at)
}

/// Whether a pattern has wildcards (and so names no single model).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("*", "anything", true),
            ("gpt-4o*", "gpt-4o-mini", true),
            ("gpt-4o*", "gpt-4", false),
            ("claude-?-*", "claude-3-haiku", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
            // Not ASCII: `?` is one character, not one byte.
            ("modèle-?", "modèle-é", true),
            ("m?dele", "mèdele", true),
            ("é*", "éclair", true),
            ("é?", "é", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }
}
