//! Which values get encrypted: the six sops crypt rules, at most one per file.
//!
//! A rule is tested against every component of a leaf's key path (and, for the comment rules,
//! every comment on the enclosing levels' comment stacks), so a match on a parent covers all its
//! children, exactly as sops's `shouldBeEncrypted`. Regexes are written for Go's RE2; they are
//! translated where Rust's `regex` differs (Go's `\d`, `\w`, `\s`, `\b` are ASCII-only).

use regex::Regex;

use crate::error::{Error, Result};

/// The suffix sops applies when no rule is given (and when a file records no rule).
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// Which of the six rules, as recorded in metadata under this key name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    UnencryptedSuffix,
    EncryptedSuffix,
    UnencryptedRegex,
    EncryptedRegex,
    UnencryptedCommentRegex,
    EncryptedCommentRegex,
}

impl RuleKind {
    /// All kinds in metadata order.
    pub const ALL: [RuleKind; 6] = [
        RuleKind::UnencryptedSuffix,
        RuleKind::EncryptedSuffix,
        RuleKind::UnencryptedRegex,
        RuleKind::EncryptedRegex,
        RuleKind::UnencryptedCommentRegex,
        RuleKind::EncryptedCommentRegex,
    ];

    /// The metadata / `.sops.yaml` key of this rule.
    pub fn key(self) -> &'static str {
        match self {
            RuleKind::UnencryptedSuffix => "unencrypted_suffix",
            RuleKind::EncryptedSuffix => "encrypted_suffix",
            RuleKind::UnencryptedRegex => "unencrypted_regex",
            RuleKind::EncryptedRegex => "encrypted_regex",
            RuleKind::UnencryptedCommentRegex => "unencrypted_comment_regex",
            RuleKind::EncryptedCommentRegex => "encrypted_comment_regex",
        }
    }

    /// The command-line flag of this rule.
    pub fn flag(self) -> String {
        format!("--{}", self.key().replace('_', "-"))
    }

    fn is_regex(self) -> bool {
        !matches!(self, RuleKind::UnencryptedSuffix | RuleKind::EncryptedSuffix)
    }
}

/// The rule of one file: which kind, its text as written, and for regex kinds the compiled form.
#[derive(Clone, Debug)]
pub struct CryptRule {
    pub kind: RuleKind,
    pub text: String,
    regex: Option<Regex>,
}

impl PartialEq for CryptRule {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.text == other.text
    }
}

impl CryptRule {
    /// A rule; regexes are compiled with Go semantics, and a bad one is an error naming it.
    pub fn new(kind: RuleKind, text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let regex = if kind.is_regex() {
            Some(
                compile_go_regex(&text)
                    .map_err(|e| Error::Config(format!("invalid {} {:?}: {}", kind.key(), text, e)))?,
            )
        } else {
            None
        };
        Ok(CryptRule { kind, text, regex })
    }

    /// sops's default: `unencrypted_suffix: _unencrypted`.
    pub fn default_rule() -> Self {
        CryptRule { kind: RuleKind::UnencryptedSuffix, text: DEFAULT_UNENCRYPTED_SUFFIX.into(), regex: None }
    }

    /// Picks the one rule among optional values, refusing more than one as sops does.
    pub fn choose(candidates: &[(RuleKind, Option<&str>)]) -> Result<Option<Self>> {
        let set: Vec<_> = candidates.iter().filter_map(|(k, v)| v.filter(|s| !s.is_empty()).map(|s| (*k, s))).collect();
        match set.as_slice() {
            [] => Ok(None),
            [(k, v)] => Ok(Some(CryptRule::new(*k, *v)?)),
            many => Err(Error::Conflict(format!(
                "cannot use more than one of {}",
                many.iter().map(|(k, _)| k.key()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(s),
            None => false,
        }
    }

    /// sops's `shouldBeEncrypted` for one leaf.
    pub fn should_encrypt(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        match self.kind {
            RuleKind::UnencryptedSuffix => !path.iter().any(|p| p.ends_with(&self.text)),
            RuleKind::EncryptedSuffix => path.iter().any(|p| p.ends_with(&self.text)),
            RuleKind::UnencryptedRegex => !path.iter().any(|p| self.matches(p)),
            RuleKind::EncryptedRegex => path.iter().any(|p| self.matches(p)),
            RuleKind::UnencryptedCommentRegex => !comments.iter().flatten().any(|c| self.matches(c)),
            RuleKind::EncryptedCommentRegex => {
                let last_level = comments.len().saturating_sub(1);
                let last_len = comments.last().map_or(0, |l| l.len());
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // The comment that matches the regex stays plain itself.
                        let is_self = is_comment && i == last_level && j + 1 == last_len;
                        !is_self && self.matches(c)
                    })
                })
            }
        }
    }

    /// For `unencrypted_comment_regex`: an encrypted comment must not match, or decryption could
    /// never tell it from a plain one (sops refuses the same).
    pub fn encrypted_comment_conflicts(&self, enc: &str) -> bool {
        self.kind == RuleKind::UnencryptedCommentRegex && self.matches(enc)
    }
}

/// The rule of a file: `None` in metadata means the default suffix.
pub fn effective(rule: Option<&CryptRule>) -> CryptRule {
    rule.cloned().unwrap_or_else(CryptRule::default_rule)
}

/// Compiles a Go RE2 pattern with Go's semantics in Rust's engine: Perl classes `\d \w \s \b \B`
/// are ASCII-only in Go, Unicode in Rust; `\Q…\E` quoting is expanded.
pub fn compile_go_regex(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    Regex::new(&translate_go_regex(pattern))
}

/// Rewrites a Go pattern into an equivalent Rust pattern.
pub fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            match n {
                'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                    let ascii = match n {
                        'd' => "0-9",
                        'D' => "^0-9",
                        'w' => "0-9A-Za-z_",
                        'W' => "^0-9A-Za-z_",
                        // Go's \s is [\t\n\f\r ] (no \v).
                        's' => "\\t\\n\\f\\r ",
                        _ => "^\\t\\n\\f\\r ",
                    };
                    if in_class {
                        // Inside a class a negated Perl class cannot be inlined; keep Rust's ASCII form.
                        // Inside a class, Rust's POSIX classes are ASCII like Go's Perl classes.
                        out.push_str(match n {
                            'd' => "[:digit:]",
                            'w' => "[:word:]",
                            's' => "\\t\\n\\f\\r ",
                            'D' => "[:^digit:]",
                            'W' => "[:^word:]",
                            _ => "[:^space:]",
                        });
                    } else {
                        out.push('[');
                        out.push_str(ascii);
                        out.push(']');
                    }
                    i += 2;
                    continue;
                }
                'b' | 'B' if !in_class => {
                    out.push_str(if n == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" });
                    i += 2;
                    continue;
                }
                'Q' => {
                    // \Q...\E: literal text.
                    let mut j = i + 2;
                    let mut lit = String::new();
                    while j < chars.len() {
                        if chars[j] == '\\' && j + 1 < chars.len() && chars[j + 1] == 'E' {
                            j += 2;
                            break;
                        }
                        lit.push(chars[j]);
                        j += 1;
                    }
                    out.push_str(&regex::escape(&lit));
                    i = j;
                    continue;
                }
                _ => {
                    out.push(c);
                    out.push(n);
                    i += 2;
                    continue;
                }
            }
        }
        if in_class {
            if c == ']' {
                in_class = false;
            } else if matches!(c, '&' | '~' | '-') && i + 1 < chars.len() && chars[i + 1] == c {
                // `&&`, `--` and `~~` are literal in Go, set operations in Rust.
                out.push('\\');
                out.push(c);
                out.push('\\');
                out.push(c);
                i += 2;
                continue;
            }
            out.push(c);
        } else {
            if c == '[' {
                in_class = true;
                out.push(c);
                // A leading `^` and/or `]` are part of the class syntax.
                if i + 1 < chars.len() && chars[i + 1] == '^' {
                    out.push('^');
                    i += 1;
                }
                if i + 1 < chars.len() && chars[i + 1] == ']' {
                    out.push_str("\\]");
                    i += 1;
                }
                i += 1;
                continue;
            }
            out.push(c);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parents_cover_children() {
        let r = CryptRule::new(RuleKind::EncryptedRegex, "^(data|stringData)$").unwrap();
        assert!(r.should_encrypt(&p(&["data", "password"]), &[], false));
        assert!(r.should_encrypt(&p(&["stringData", "a", "b"]), &[], false));
        assert!(!r.should_encrypt(&p(&["metadata", "name"]), &[], false));
        assert!(!r.should_encrypt(&p(&["kind"]), &[], false));
        let s = CryptRule::default_rule();
        assert!(!s.should_encrypt(&p(&["a_unencrypted", "x"]), &[], false));
        assert!(s.should_encrypt(&p(&["a", "x"]), &[], false));
        let e = CryptRule::new(RuleKind::EncryptedSuffix, "_enc").unwrap();
        assert!(e.should_encrypt(&p(&["pw_enc"]), &[], false));
        assert!(!e.should_encrypt(&p(&["pw"]), &[], false));
        let u = CryptRule::new(RuleKind::UnencryptedRegex, "^pub").unwrap();
        assert!(!u.should_encrypt(&p(&["public", "x"]), &[], false));
        assert!(u.should_encrypt(&p(&["x"]), &[], false));
    }

    #[test]
    fn regexes_are_unanchored_like_go() {
        let r = CryptRule::new(RuleKind::EncryptedRegex, "pass").unwrap();
        assert!(r.should_encrypt(&p(&["db_password"]), &[], false));
    }

    #[test]
    fn comment_rules_skip_the_matching_comment_itself() {
        let r = CryptRule::new(RuleKind::EncryptedCommentRegex, "sops:enc").unwrap();
        let stack = vec![vec![" sops:enc".to_string()]];
        assert!(!r.should_encrypt(&[], &stack, true));
        assert!(r.should_encrypt(&p(&["a"]), &stack, false));
        assert!(!r.should_encrypt(&p(&["b"]), &[vec![]], false));
        let u = CryptRule::new(RuleKind::UnencryptedCommentRegex, "sops:plain").unwrap();
        assert!(!u.should_encrypt(&p(&["a"]), &[vec![" sops:plain".into()]], false));
        assert!(!u.should_encrypt(&[], &[vec![" sops:plain".into()]], true));
        assert!(u.should_encrypt(&p(&["b"]), &[vec![]], false));
    }

    #[test]
    fn at_most_one_rule() {
        let err =
            CryptRule::choose(&[(RuleKind::EncryptedRegex, Some("a")), (RuleKind::UnencryptedSuffix, Some("_u"))])
                .unwrap_err();
        assert!(err.to_string().contains("more than one"));
        assert_eq!(CryptRule::choose(&[(RuleKind::EncryptedRegex, Some(""))]).unwrap(), None);
    }

    #[test]
    fn go_perl_classes_are_ascii() {
        let r = compile_go_regex(r"^\d+$").unwrap();
        assert!(r.is_match("123"));
        assert!(!r.is_match("١٢٣"), "Arabic-Indic digits are not \\d in Go");
        let w = compile_go_regex(r"^\w+$").unwrap();
        assert!(!w.is_match("é"));
        let c = compile_go_regex(r"^[\d_]+$").unwrap();
        assert!(c.is_match("1_2") && !c.is_match("١"));
        let q = compile_go_regex(r"\Qa.b\E").unwrap();
        assert!(q.is_match("a.b") && !q.is_match("axb"));
        let amp = compile_go_regex(r"^[a&&b]$").unwrap();
        assert!(amp.is_match("&"));
        assert!(compile_go_regex("(?i)^DATA$").unwrap().is_match("data"));
    }

    #[test]
    fn bad_regex_is_a_config_error() {
        assert!(CryptRule::new(RuleKind::EncryptedRegex, "(").is_err());
    }
}
