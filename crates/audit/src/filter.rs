//! The `filter` option: which events a device records, as a boolean expression over the
//! event's `mount_point`, `mount_type`, `namespace`, `operation` and `path` (the names and
//! operators of Vault Enterprise's audit filters):
//!
//! ```text
//! operation == "read" and (mount_type == "kv" or path matches "^secret/.*")
//! not (path contains "internal")       "admin" in path       namespace != "root"
//! ```
//!
//! Operators: `==`, `!=`, `matches` / `not matches` (a regular expression), `contains` /
//! `not contains`, `"v" in field` / `"v" not in field`; combined with `and`, `or`, `not` and
//! parentheses. Expressions are bounded in length and depth.

use regex_lite::Regex;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of `not` and parentheses accepted.
pub const MAX_DEPTH: usize = 32;

/// A field an expression can look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The mount serving the path (`secret/`).
    MountPoint,
    /// The mount's type (`kv`).
    MountType,
    /// The namespace (always `root` in Tresor).
    Namespace,
    /// The operation (`read`, `update`, ...).
    Operation,
    /// The request path.
    Path,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "mount_point" => Field::MountPoint,
            "mount_type" => Field::MountType,
            "namespace" => Field::Namespace,
            "operation" => Field::Operation,
            "path" => Field::Path,
            _ => return None,
        })
    }
}

/// The values a filter is evaluated on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    /// `mount_point`.
    pub mount_point: &'a str,
    /// `mount_type`.
    pub mount_type: &'a str,
    /// `namespace`.
    pub namespace: &'a str,
    /// `operation`.
    pub operation: &'a str,
    /// `path`.
    pub path: &'a str,
}

impl<'a> Subject<'a> {
    fn get(&self, f: Field) -> &'a str {
        match f {
            Field::MountPoint => self.mount_point,
            Field::MountType => self.mount_type,
            Field::Namespace => self.namespace,
            Field::Operation => self.operation,
            Field::Path => self.path,
        }
    }
}

/// A parsed filter.
#[derive(Clone, Debug)]
pub struct Filter {
    expr: Expr,
}

#[derive(Clone, Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(Field, String, bool),
    Contains(Field, String, bool),
    Matches(Field, Regex, bool),
}

/// Why a filter does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid filter at byte {at}: {reason}")]
pub struct FilterError {
    /// Where in the expression.
    pub at: usize,
    /// What is wrong.
    pub reason: String,
}

impl Filter {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_LEN {
            return Err(FilterError {
                at: MAX_LEN,
                reason: format!("longer than {MAX_LEN} bytes"),
            });
        }
        let tokens = lex(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let expr = p.or(0)?;
        if let Some((at, t)) = p.tokens.get(p.pos) {
            return Err(FilterError {
                at: *at,
                reason: format!("unexpected {t:?}"),
            });
        }
        Ok(Self { expr })
    }

    /// Whether the event described by `s` passes.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        eval(&self.expr, s)
    }
}

fn eval(e: &Expr, s: &Subject<'_>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, s) && eval(b, s),
        Expr::Or(a, b) => eval(a, s) || eval(b, s),
        Expr::Not(a) => !eval(a, s),
        Expr::Eq(f, v, neg) => (s.get(*f) == v) != *neg,
        Expr::Contains(f, v, neg) => s.get(*f).contains(v.as_str()) != *neg,
        Expr::Matches(f, re, neg) => re.is_match(s.get(*f)) != *neg,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    EqEq,
    NotEq,
    LParen,
    RParen,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                out.push((i, Tok::EqEq));
                i += 2;
            }
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                out.push((i, Tok::NotEq));
                i += 2;
            }
            b'"' => {
                let start = i;
                i += 1;
                let mut s = String::new();
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(FilterError {
                                at: start,
                                reason: "unterminated string".into(),
                            });
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            match bytes.get(i + 1) {
                                Some(b'"') => s.push('"'),
                                Some(b'\\') => s.push('\\'),
                                _ => {
                                    return Err(FilterError {
                                        at: i,
                                        reason: "only \\\" and \\\\ escapes are allowed".into(),
                                    });
                                }
                            }
                            i += 2;
                        }
                        Some(_) => {
                            // Copy one UTF-8 character.
                            let ch = text[i..].chars().next().ok_or_else(|| FilterError {
                                at: i,
                                reason: "bad character".into(),
                            })?;
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((start, Tok::Str(s)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push((start, Tok::Ident(text[start..i].to_owned())));
            }
            _ => {
                return Err(FilterError {
                    at: i,
                    reason: format!("unexpected character {:?}", text[i..].chars().next()),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or_else(|| self.tokens.last().map_or(0, |(a, _)| *a), |(a, _)| *a)
    }

    fn err<T>(&self, reason: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError {
            at: self.at(),
            reason: reason.into(),
        })
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            let right = self.and(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            let right = self.unary(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth >= MAX_DEPTH {
            return self.err(format!("nested deeper than {MAX_DEPTH}"));
        }
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.or(depth + 1)?;
            if self.peek() != Some(&Tok::RParen) {
                return self.err("expected ')'");
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn field(&mut self) -> Result<Field, FilterError> {
        match self.peek().cloned() {
            Some(Tok::Ident(name)) => match Field::parse(&name) {
                Some(f) => {
                    self.pos += 1;
                    Ok(f)
                }
                None => self.err(format!(
                    "unknown field {name:?} (mount_point, mount_type, namespace, operation, path)"
                )),
            },
            _ => self.err("expected a field name"),
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => self.err("expected a quoted string"),
        }
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        // `"value" [not] in field`
        if let Some(Tok::Str(_)) = self.peek() {
            let value = self.string()?;
            let neg = self.keyword("not");
            if !self.keyword("in") {
                return self.err("expected 'in'");
            }
            let f = self.field()?;
            return Ok(Expr::Contains(f, value, neg));
        }
        let f = self.field()?;
        match self.peek().cloned() {
            Some(Tok::EqEq) => {
                self.pos += 1;
                Ok(Expr::Eq(f, self.string()?, false))
            }
            Some(Tok::NotEq) => {
                self.pos += 1;
                Ok(Expr::Eq(f, self.string()?, true))
            }
            Some(Tok::Ident(_)) => {
                let neg = self.keyword("not");
                if self.keyword("contains") {
                    Ok(Expr::Contains(f, self.string()?, neg))
                } else if self.keyword("matches") {
                    let at = self.at();
                    let pattern = self.string()?;
                    let re = Regex::new(&pattern).map_err(|e| FilterError {
                        at,
                        reason: format!("bad regular expression: {e}"),
                    })?;
                    Ok(Expr::Matches(f, re, neg))
                } else {
                    self.err("expected ==, !=, contains or matches")
                }
            }
            _ => self.err("expected ==, !=, contains or matches"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_read() -> Subject<'static> {
        Subject {
            mount_point: "secret/",
            mount_type: "kv",
            namespace: "root",
            operation: "read",
            path: "secret/data/admin/db",
        }
    }

    fn check(expr: &str) -> bool {
        Filter::parse(expr).expect(expr).matches(&kv_read())
    }

    #[test]
    fn operators() {
        assert!(check(r#"operation == "read""#));
        assert!(!check(r#"operation != "read""#));
        assert!(check(r#"path matches "^secret/data/.*""#));
        assert!(!check(r#"path not matches "^secret/""#));
        assert!(check(r#"path contains "admin""#));
        assert!(check(r#""admin" in path"#));
        assert!(!check(r#""admin" not in path"#));
        assert!(check(r#"namespace == "root""#));
        assert!(check(r#"mount_point == "secret/""#));
    }

    #[test]
    fn precedence_and_grouping() {
        // and binds tighter than or.
        assert!(check(
            r#"operation == "update" and mount_type == "x" or path contains "db""#
        ));
        assert!(!check(
            r#"operation == "update" and (mount_type == "x" or path contains "db")"#
        ));
        assert!(check(r#"not (operation == "update")"#));
        assert!(check(r#"not not operation == "read""#));
    }

    #[test]
    fn errors_say_where() {
        for (expr, at) in [
            (r#"path =="#, 5),
            (r#"pth == "x""#, 0),
            (r#"path == "x" and"#, 12),
            (r#"(path == "x""#, 9),
            (r#"path == "unterminated"#, 8),
            (r#"path matches "(""#, 13),
            (r#"path == "x" )"#, 12),
        ] {
            let e = Filter::parse(expr).expect_err(expr);
            assert_eq!(e.at, at, "{expr}: {e}");
        }
    }

    #[test]
    fn bounded() {
        let deep = format!("{}path == \"x\"{}", "(".repeat(100), ")".repeat(100));
        assert!(
            Filter::parse(&deep)
                .expect_err("deep")
                .reason
                .contains("nested")
        );
        let nots = format!("{}path == \"x\"", "not ".repeat(100));
        assert!(Filter::parse(&nots).is_err());
        let long = format!("path == \"{}\"", "x".repeat(MAX_LEN));
        assert!(Filter::parse(&long).is_err());
    }

    proptest::proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(512))]
        #[test]
        fn never_panics(s in "[ a-z_()\"=!\\\\.*^$]{0,64}") {
            let _ = Filter::parse(&s).map(|f| f.matches(&kv_read()));
        }
    }
}
