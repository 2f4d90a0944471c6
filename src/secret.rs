//! [`Secret`]: a configured credential (bot token, webhook secret, admin token) that never
//! prints and is compared in constant time. A leaf: whoever checks a credential needs only this.

use std::fmt;

/// A secret value: never printed (its `Debug` is redacted) and compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// `None` for an unset or empty value, which disables whatever the secret guards.
    pub fn new(value: Option<String>) -> Option<Self> {
        value.filter(|v| !v.is_empty()).map(Self)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison: the time taken depends on the lengths only, not on where the
    /// first differing byte is.
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_the_exact_value_and_never_print() {
        let secret = Secret::new(Some("s3cret".into())).unwrap();
        assert!(secret.matches("s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3cret", "x3cret"] {
            assert!(!secret.matches(wrong), "{wrong:?}");
        }
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert!(Secret::new(Some(String::new())).is_none());
    }
}
