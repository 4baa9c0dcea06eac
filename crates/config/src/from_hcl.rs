//! HCL text to [`Node`] tree.
//!
//! Only literal values are accepted: Vault does not evaluate expressions in its configuration,
//! so `"${aws_region}"` stays the literal text (with a warning), and variables, function calls
//! and operators (other than a leading minus on a number) are refused.

use hcl::expr::{Expression, HeredocStripMode, ObjectKey, Operation, TemplateExpr, UnaryOperator};
use hcl::structure::{BlockLabel, Body, Structure};

use crate::error::ConfigError;
use crate::tree::{Node, join, template_warning};

/// Parses HCL text into the entries of its top-level body.
pub(crate) fn parse_hcl(
    text: &str,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Node)>, ConfigError> {
    let body = hcl::parse(text).map_err(|e| parse_error(file, e))?;
    let mut conv = Converter { file, warnings };
    conv.body(body, "")
}

fn parse_error(file: &str, err: hcl::Error) -> ConfigError {
    match err {
        hcl::Error::Parse(p) => ConfigError::Parse {
            file: file.to_owned(),
            line: p.location().line(),
            column: p.location().column(),
            reason: format!("{} (in: {})", p.message(), p.line().trim()),
        },
        other => ConfigError::Parse {
            file: file.to_owned(),
            line: 0,
            column: 0,
            reason: other.to_string(),
        },
    }
}

struct Converter<'a> {
    file: &'a str,
    warnings: &'a mut Vec<String>,
}

impl Converter<'_> {
    fn body(&mut self, body: Body, path: &str) -> Result<Vec<(String, Node)>, ConfigError> {
        let mut out = Vec::new();
        for structure in body.into_inner() {
            match structure {
                Structure::Attribute(attr) => {
                    let key = attr.key.into_inner();
                    let node = self.expr(attr.expr, &join(path, &key))?;
                    out.push((key, node));
                }
                Structure::Block(block) => {
                    let ident = block.identifier.into_inner();
                    let labels: Vec<String> = block
                        .labels
                        .into_iter()
                        .map(|l| match l {
                            BlockLabel::Identifier(i) => i.into_inner(),
                            BlockLabel::String(s) => s,
                        })
                        .collect();
                    let mut inner_path = join(path, &ident);
                    for l in &labels {
                        inner_path = join(&inner_path, l);
                    }
                    let mut node = Node::Map(self.body(block.body, &inner_path)?);
                    for label in labels.into_iter().rev() {
                        node = Node::Map(vec![(label, node)]);
                    }
                    out.push((ident, node));
                }
            }
        }
        Ok(out)
    }

    fn expr(&mut self, expr: Expression, key: &str) -> Result<Node, ConfigError> {
        Ok(match expr {
            Expression::Null => Node::Null,
            Expression::Bool(b) => Node::Bool(b),
            Expression::Number(n) => number(&n),
            Expression::String(s) => Node::Str(s),
            Expression::Array(items) => Node::List(
                items
                    .into_iter()
                    .map(|e| self.expr(e, key))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(obj) => {
                let mut entries = Vec::new();
                for (k, v) in obj {
                    let k = match k {
                        ObjectKey::Identifier(i) => i.into_inner(),
                        ObjectKey::Expression(Expression::String(s)) => s,
                        ObjectKey::Expression(_) => {
                            return Err(self.not_literal(key));
                        }
                        _ => return Err(self.not_literal(key)),
                    };
                    let node = self.expr(v, &join(key, &k))?;
                    entries.push((k, node));
                }
                Node::Map(entries)
            }
            Expression::TemplateExpr(t) => {
                let text = match *t {
                    TemplateExpr::QuotedString(raw) => unescape(&raw),
                    TemplateExpr::Heredoc(h) => match h.strip {
                        HeredocStripMode::Indent => strip_indent(&h.template),
                        _ => h.template,
                    },
                };
                if let Some(w) = template_warning(self.file, key, &text) {
                    self.warnings.push(w);
                }
                Node::Str(text)
            }
            Expression::Parenthesis(inner) => self.expr(*inner, key)?,
            Expression::Operation(op) => match *op {
                Operation::Unary(u) if matches!(u.operator, UnaryOperator::Neg) => {
                    match self.expr(u.expr, key)? {
                        Node::Int(i) => Node::Int(-i),
                        Node::Float(f) => Node::Float(-f),
                        _ => return Err(self.not_literal(key)),
                    }
                }
                _ => return Err(self.not_literal(key)),
            },
            _ => return Err(self.not_literal(key)),
        })
    }

    fn not_literal(&self, key: &str) -> ConfigError {
        ConfigError::invalid(
            self.file,
            key,
            "expressions are not evaluated in server configuration; write a literal value \
             (quote strings, e.g. \"tls13\")",
        )
    }
}

fn number(n: &hcl::Number) -> Node {
    match n.as_i64() {
        Some(i) => Node::Int(i),
        None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Resolves the escape sequences of a quoted HCL string (`\"`, `\\`, `\n`, `\t`, `\r`,
/// `\uXXXX`, `\UXXXXXXXX`); unknown sequences are kept as written.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(u @ ('u' | 'U')) => {
                let len = if u == 'u' { 4 } else { 8 };
                let hex: String = chars.clone().take(len).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == len => {
                        out.push(ch);
                        for _ in 0..len {
                            chars.next();
                        }
                    }
                    _ => {
                        out.push('\\');
                        out.push(u);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `<<-EOF` heredocs: removes the smallest common leading whitespace of non-blank lines.
fn strip_indent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.split_inclusive('\n')
        .map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<(String, Node)>, Vec<String>) {
        let mut w = Vec::new();
        let entries = parse_hcl(text, "t.hcl", &mut w).unwrap();
        (entries, w)
    }

    #[test]
    fn blocks_become_nested_maps_by_label() {
        let (e, w) = parse("listener \"tcp\" {\n address = \"0.0.0.0:8200\"\n}\n");
        assert!(w.is_empty());
        assert_eq!(
            e,
            vec![(
                "listener".to_owned(),
                Node::Map(vec![(
                    "tcp".to_owned(),
                    Node::Map(vec![(
                        "address".to_owned(),
                        Node::Str("0.0.0.0:8200".to_owned())
                    )])
                )])
            )]
        );
    }

    #[test]
    fn templates_keep_literal_text_and_warn() {
        let (e, w) = parse("seal \"awskms\" {\n region = \"${aws_region}\"\n}\n");
        let Node::Map(seal) = &e[0].1 else { panic!() };
        let Node::Map(body) = &seal[0].1 else {
            panic!()
        };
        assert_eq!(body[0].1, Node::Str("${aws_region}".to_owned()));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("seal.awskms.region"), "{w:?}");
    }

    #[test]
    fn negative_numbers_comments_and_escapes() {
        let (e, _) =
            parse("# hash\n// slashes\n/* block */\na = -5\nb = \"q\\\"x\\n\"\nc = 1.5\nd = (3)\n");
        assert_eq!(e[0].1, Node::Int(-5));
        assert_eq!(e[1].1, Node::Str("q\"x\n".to_owned()));
        assert_eq!(e[2].1, Node::Float(1.5));
        assert_eq!(e[3].1, Node::Int(3));
    }

    #[test]
    fn heredoc_keeps_text() {
        let (e, _) = parse(
            "pem = <<EOF\n-----BEGIN X-----\nabc\nEOF\nind = <<-EOT\n    a\n      b\n    EOT\n",
        );
        assert_eq!(e[0].1, Node::Str("-----BEGIN X-----\nabc\n".to_owned()));
        assert_eq!(e[1].1, Node::Str("a\n  b\n".to_owned()));
    }

    #[test]
    fn expressions_are_refused_with_key() {
        let mut w = Vec::new();
        let err = parse_hcl(
            "listener \"tcp\" {\n tls_min_version = tls13\n}\n",
            "t.hcl",
            &mut w,
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("listener.tcp.tls_min_version"));
        let err = parse_hcl("a = 1 + 2\n", "t.hcl", &mut w).unwrap_err();
        assert_eq!(err.key(), Some("a"));
    }

    #[test]
    fn syntax_errors_carry_location() {
        let mut w = Vec::new();
        let err = parse_hcl(
            "ui = true\nlistener \"tcp\" {\n address = \n",
            "bad.hcl",
            &mut w,
        )
        .unwrap_err();
        match err {
            ConfigError::Parse { file, line, .. } => {
                assert_eq!(file, "bad.hcl");
                assert!(line >= 3, "line {line}");
            }
            other => panic!("{other:?}"),
        }
    }
}
