//! Canonical layout of policy text, for `policy fmt`.
//!
//! HCL input is validated as a policy and then re-laid out line by line, which keeps comments:
//! two-space indentation by nesting depth, `key = value` spacing on attribute lines, no
//! trailing whitespace, runs of blank lines collapsed, no leading/trailing blank lines, one
//! final newline. Heredoc bodies are left untouched. Content within a line (for example a
//! block written on one line) is not rearranged.
//!
//! JSON input has no comments to keep, so it is rendered as HCL from the parsed document.

use serde_json::{Map, Value};

use crate::PolicyError;
use crate::parse::{parse_rules, to_json};

/// Formats a policy (HCL, or JSON turned into HCL) canonically. Fails on text that is not a
/// valid policy.
pub fn format_hcl(text: &str) -> Result<String, PolicyError> {
    let rules = parse_rules(text)?;
    let formatted = if text.trim_start().starts_with('{') {
        render_document(&to_json(text)?)?
    } else {
        relayout(text)
    };
    // Layout must never change meaning; refuse rather than hand back a different policy.
    if parse_rules(&formatted)? != rules {
        return Err(PolicyError::Structure(
            "formatting would change the policy; left as is".into(),
        ));
    }
    Ok(formatted)
}

const INDENT: &str = "  ";

/// Lexical state carried from one line to the next.
#[derive(Default)]
struct Layout {
    depth: usize,
    heredoc: Option<String>,
    block_comment: bool,
    out: Vec<String>,
}

fn relayout(text: &str) -> String {
    let mut st = Layout::default();
    for line in text.lines() {
        if let Some(end) = &st.heredoc {
            if line.trim() == end {
                st.heredoc = None;
            }
            st.out.push(line.trim_end().to_owned());
            continue;
        }
        let trimmed = line.trim();
        if st.block_comment {
            st.block_comment = !trimmed.contains("*/");
            st.out.push(indented(st.depth, trimmed));
            continue;
        }
        if trimmed.is_empty() {
            if st.out.last().is_some_and(|l| !l.is_empty()) {
                st.out.push(String::new());
            }
            continue;
        }
        let scan = scan_line(trimmed);
        let level = st.depth.saturating_sub(scan.leading_closers);
        let body = match scan.first_equals {
            Some(pos) => normalise_assignment(trimmed, pos),
            None => trimmed.to_owned(),
        };
        st.out.push(indented(level, &body));
        st.depth = (st.depth + scan.opened).saturating_sub(scan.closed);
        st.heredoc = scan.heredoc;
        st.block_comment = scan.opens_block_comment;
    }
    while st.out.last().is_some_and(String::is_empty) {
        st.out.pop();
    }
    let mut result = st.out.join("\n");
    result.push('\n');
    result
}

fn indented(level: usize, text: &str) -> String {
    format!("{}{}", INDENT.repeat(level), text)
}

/// What one line contributes to the layout.
#[derive(Default)]
struct LineScan {
    leading_closers: usize,
    opened: usize,
    closed: usize,
    /// Byte offset of the first `=` outside strings and comments, when it is an assignment.
    first_equals: Option<usize>,
    heredoc: Option<String>,
    opens_block_comment: bool,
}

fn scan_line(line: &str) -> LineScan {
    let mut scan = LineScan::default();
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut leading = true;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => break,
            b'/' if bytes.get(i + 1) == Some(&b'/') => break,
            b'/' if bytes.get(i + 1) == Some(&b'*') => match line[i + 2..].find("*/") {
                Some(end) => {
                    i += 2 + end + 2;
                    continue;
                }
                None => {
                    scan.opens_block_comment = true;
                    break;
                }
            },
            b'"' => in_string = true,
            b'{' | b'[' => scan.opened += 1,
            b'}' | b']' => {
                scan.closed += 1;
                if leading {
                    scan.leading_closers += 1;
                }
            }
            b'=' if scan.first_equals.is_none()
                && scan.opened == scan.closed
                && !matches!(bytes.get(i + 1), Some(b'=' | b'>'))
                && !matches!(
                    i.checked_sub(1).map(|p| bytes[p]),
                    Some(b'=' | b'!' | b'<' | b'>')
                ) =>
            {
                scan.first_equals = Some(i);
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                let rest = line[i + 2..].strip_prefix('-').unwrap_or(&line[i + 2..]);
                let tag: String = rest
                    .chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect();
                if !tag.is_empty() {
                    scan.heredoc = Some(tag);
                }
            }
            _ => {}
        }
        if !matches!(c, b'}' | b']' | b' ' | b'\t') {
            leading = false;
        }
        i += 1;
    }
    scan
}

/// `key=value` → `key = value`, when the text before `=` is a single key.
fn normalise_assignment(line: &str, eq: usize) -> String {
    let key = line[..eq].trim_end();
    let value = line[eq + 1..].trim_start();
    let single_key = !key.is_empty()
        && (is_quoted(key)
            || key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    if single_key && !value.is_empty() {
        format!("{key} = {value}")
    } else {
        line.to_owned()
    }
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"') && !s[1..s.len() - 1].contains('"')
}

/// Renders a policy document in its JSON form as HCL.
fn render_document(doc: &Value) -> Result<String, PolicyError> {
    let mut blocks = Vec::new();
    if let Some(Value::String(name)) = doc.get("name") {
        blocks.push(format!("name = {}\n", quote(name)));
    }
    if let Some(paths) = doc.get("path") {
        render_paths(paths, &mut blocks)?;
    }
    Ok(blocks.join("\n"))
}

fn render_paths(paths: &Value, blocks: &mut Vec<String>) -> Result<(), PolicyError> {
    match paths {
        Value::Object(map) => {
            for (pattern, body) in map {
                render_bodies(pattern, body, blocks)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|i| render_paths(i, blocks)),
        _ => Err(PolicyError::Structure("\"path\" must be an object".into())),
    }
}

fn render_bodies(pattern: &str, body: &Value, blocks: &mut Vec<String>) -> Result<(), PolicyError> {
    match body {
        Value::Object(fields) => {
            blocks.push(render_block(pattern, fields));
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|i| render_bodies(pattern, i, blocks)),
        _ => Err(PolicyError::Structure(format!(
            "path {pattern:?}: body must be an object"
        ))),
    }
}

fn render_block(pattern: &str, fields: &Map<String, Value>) -> String {
    let mut out = format!("path {} {{\n", quote(pattern));
    for (key, value) in fields {
        out.push_str(INDENT);
        out.push_str(key);
        out.push_str(" = ");
        out.push_str(&render_value(value, 1));
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

fn render_value(value: &Value, level: usize) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|v| render_value(v, level)).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let mut out = String::from("{\n");
            for (k, v) in map {
                out.push_str(&INDENT.repeat(level + 1));
                out.push_str(&quote(k));
                out.push_str(" = ");
                out.push_str(&render_value(v, level + 1));
                out.push('\n');
            }
            out.push_str(&INDENT.repeat(level));
            out.push('}');
            out
        }
        other => other.to_string(),
    }
}

/// An HCL string literal (template sequences escaped so they stay literal).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn reindents_and_keeps_comments() {
        let messy = "\n\n# top comment\npath \"secret/*\" {\ncapabilities=[\"read\",\n        \"list\"]   \n      # inner\n}\n\n\n\npath \"sys/*\"   {\n    policy   =   \"deny\"\n}\n\n";
        let want = "# top comment\npath \"secret/*\" {\n  capabilities = [\"read\",\n    \"list\"]\n  # inner\n}\n\npath \"sys/*\"   {\n  policy = \"deny\"\n}\n";
        let got = format_hcl(messy).unwrap();
        assert_eq!(got, want);
        // idempotent
        assert_eq!(format_hcl(&got).unwrap(), got);
    }

    #[test]
    fn strings_with_braces_and_equals_do_not_confuse_layout() {
        let text = "path \"a/{x}=y\" {\n  capabilities = [\"read\"] # } ]\n  allowed_parameters = {\n\"k\"=[\"v=}\"]\n}\n}\n";
        let got = format_hcl(text).unwrap();
        assert_eq!(
            got,
            "path \"a/{x}=y\" {\n  capabilities = [\"read\"] # } ]\n  allowed_parameters = {\n    \"k\" = [\"v=}\"]\n  }\n}\n"
        );
    }

    #[test]
    fn json_is_rendered_as_equivalent_hcl() {
        let json = r#"{"path": {"secret/*": {"capabilities": ["read", "list"],
            "allowed_parameters": {"env": ["dev", "${x}"]}}, "sys/health": {"policy": "read"}}}"#;
        let got = format_hcl(json).unwrap();
        assert!(
            got.starts_with("path \"secret/*\" {\n  allowed_parameters = {\n"),
            "{got}"
        );
        assert_eq!(
            Policy::parse("a", &got).unwrap().rules(),
            Policy::parse("a", json).unwrap().rules()
        );
    }

    #[test]
    fn invalid_policies_are_not_formatted() {
        assert!(matches!(
            format_hcl("path \"a\" { capabilities = [\"fly\"] }"),
            Err(PolicyError::UnknownCapability { .. })
        ));
        assert!(matches!(
            format_hcl("path \"a\" {"),
            Err(PolicyError::Syntax(_))
        ));
    }
}
