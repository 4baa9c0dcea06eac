//! Username templates: the small subset of Go's `text/template` that Vault's
//! `username_template` speaks, parsed once (at config time, so an unknown function is a 400
//! there) and rendered per credential.
//!
//! Syntax: literal text with actions `{{ pipeline }}` (`{{-`/`-}}` trim the whitespace beside
//! them). A pipeline is commands joined by `|`, each command's value passed as the last
//! argument of the next. A command is an operand (`.DisplayName`, `.RoleName`, `"string"`,
//! `` `raw string` ``, an integer, a parenthesised pipeline) or a function with arguments.
//!
//! Functions: `random N`, `truncate N s`, `truncate_sha256 N s`, `lowercase s`,
//! `uppercase s`, `replace old new s`, `printf FORMAT args...` (`%s`, `%d`, `%v`, `%%`),
//! `uuid`, `unix_time`, `unix_time_millis`, `timestamp LAYOUT` (Go layout, UTC), `sha256 s`,
//! `base64 s`.
//!
//! Everything is bounded: the template's size, nesting depth, `random`'s length and every
//! intermediate string (`replace` cannot blow up).

use rand::Rng;
use sha2::{Digest, Sha256};

/// Longest template accepted, bytes.
pub const MAX_TEMPLATE_LEN: usize = 4096;
/// Deepest nesting of parentheses.
const MAX_DEPTH: usize = 16;
/// Longest `random N`.
const MAX_RANDOM: i64 = 1024;
/// Longest intermediate or final string, bytes.
const MAX_VALUE_LEN: usize = 64 * 1024;

/// Vault's default username template for PostgreSQL.
pub const DEFAULT_POSTGRES_TEMPLATE: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;

/// Why a template did not parse or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is malformed.
    #[error("invalid username template: {0}")]
    Parse(String),
    /// Rendering failed (wrong argument types, a value too large).
    #[error("username template failed: {0}")]
    Render(String),
}

fn perr<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::Parse(msg.into()))
}

fn rerr<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::Render(msg.into()))
}

/// The fields a template can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    DisplayName,
    RoleName,
}

/// A known function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Random,
    Truncate,
    TruncateSha256,
    Lowercase,
    Uppercase,
    Replace,
    Printf,
    Uuid,
    UnixTime,
    UnixTimeMillis,
    Timestamp,
    Sha256,
    Base64,
}

impl Func {
    fn by_name(name: &str) -> Option<Func> {
        Some(match name {
            "random" => Func::Random,
            "truncate" => Func::Truncate,
            "truncate_sha256" => Func::TruncateSha256,
            "lowercase" => Func::Lowercase,
            "uppercase" => Func::Uppercase,
            "replace" => Func::Replace,
            "printf" => Func::Printf,
            "uuid" => Func::Uuid,
            "unix_time" => Func::UnixTime,
            "unix_time_millis" => Func::UnixTimeMillis,
            "timestamp" => Func::Timestamp,
            "sha256" => Func::Sha256,
            "base64" => Func::Base64,
            _ => return None,
        })
    }

    /// Exact argument count (`None`: at least one, printf).
    fn arity(self) -> Option<usize> {
        match self {
            Func::Uuid | Func::UnixTime | Func::UnixTimeMillis => Some(0),
            Func::Random
            | Func::Lowercase
            | Func::Uppercase
            | Func::Timestamp
            | Func::Sha256
            | Func::Base64 => Some(1),
            Func::Truncate | Func::TruncateSha256 => Some(2),
            Func::Replace => Some(3),
            Func::Printf => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(Field),
    Str(String),
    Int(i64),
    Pipe(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    Operand(Operand),
    Call(Func, Vec<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
}

/// A parsed username template.
#[derive(Debug, Clone, PartialEq)]
pub struct UsernameTemplate {
    nodes: Vec<Node>,
}

/// What a template is rendered with.
#[derive(Debug, Clone)]
pub struct TemplateInput<'a> {
    /// The caller's token display name (`.DisplayName`).
    pub display_name: &'a str,
    /// The role the credential is for (`.RoleName`).
    pub role_name: &'a str,
    /// Now, for `unix_time`, `unix_time_millis` and `timestamp`.
    pub now: time::OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Field(String),
    Str(String),
    Int(i64),
    Ident(String),
}

fn lex(text: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return perr("unterminated string"),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let e = match chars.get(i + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('\\') => '\\',
                                Some('"') => '"',
                                _ => return perr("unsupported escape in string"),
                            };
                            s.push(e);
                            i += 2;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(s));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|c| *c == '`')
                    .map(|p| start + p)
                    .ok_or_else(|| TemplateError::Parse("unterminated raw string".into()))?;
                out.push(Token::Str(chars[start..end].iter().collect()));
                i = end + 1;
            }
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                out.push(Token::Field(chars[start..j].iter().collect()));
                i = j;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let s: String = chars[start..j].iter().collect();
                let n = s
                    .parse::<i64>()
                    .map_err(|_| TemplateError::Parse(format!("bad number {s:?}")))?;
                out.push(Token::Int(n));
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                out.push(Token::Ident(chars[start..j].iter().collect()));
                i = j;
            }
            other => return perr(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn pipeline(&mut self, depth: usize) -> Result<Pipeline, TemplateError> {
        if depth > MAX_DEPTH {
            return perr("nested too deeply");
        }
        let mut cmds = vec![self.command(depth)?];
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            cmds.push(self.command(depth)?);
        }
        Ok(Pipeline(cmds))
    }

    fn command(&mut self, depth: usize) -> Result<Command, TemplateError> {
        match self.peek().cloned() {
            Some(Token::Ident(name)) => {
                self.pos += 1;
                let Some(f) = Func::by_name(&name) else {
                    return perr(format!("function {name:?} not defined"));
                };
                let mut args = Vec::new();
                while let Some(t) = self.peek() {
                    if matches!(t, Token::Pipe | Token::Close) {
                        break;
                    }
                    args.push(self.operand(depth)?);
                }
                Ok(Command::Call(f, args))
            }
            Some(_) => {
                let op = self.operand(depth)?;
                match self.peek() {
                    None | Some(Token::Pipe) | Some(Token::Close) => Ok(Command::Operand(op)),
                    Some(_) => perr("can't give arguments to a non-function"),
                }
            }
            None => perr("missing value for command"),
        }
    }

    fn operand(&mut self, depth: usize) -> Result<Operand, TemplateError> {
        let Some(t) = self.peek().cloned() else {
            return perr("missing operand");
        };
        self.pos += 1;
        match t {
            Token::Field(name) => match name.as_str() {
                "DisplayName" => Ok(Operand::Field(Field::DisplayName)),
                "RoleName" => Ok(Operand::Field(Field::RoleName)),
                other => perr(format!("unknown field .{other}")),
            },
            Token::Str(s) => Ok(Operand::Str(s)),
            Token::Int(n) => Ok(Operand::Int(n)),
            Token::Open => {
                let p = self.pipeline(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return perr("unclosed parenthesis");
                }
                self.pos += 1;
                Ok(Operand::Pipe(p))
            }
            Token::Ident(name) => {
                // A function without arguments used as an operand, as Go allows (`random` needs
                // one, so only the nullary ones make sense here).
                match Func::by_name(&name) {
                    Some(f) if f.arity() == Some(0) => {
                        Ok(Operand::Pipe(Pipeline(vec![Command::Call(f, vec![])])))
                    }
                    Some(_) => perr(format!(
                        "function {name:?} needs arguments: parenthesise it"
                    )),
                    None => perr(format!("function {name:?} not defined")),
                }
            }
            Token::Pipe | Token::Close => perr("unexpected | or )"),
        }
    }
}

impl UsernameTemplate {
    /// Parses `text`; unknown functions and fields, bad syntax and oversized text are errors.
    pub fn parse(text: &str) -> Result<UsernameTemplate, TemplateError> {
        if text.len() > MAX_TEMPLATE_LEN {
            return perr(format!("longer than {MAX_TEMPLATE_LEN} bytes"));
        }
        let mut nodes = Vec::new();
        let mut rest = text;
        let mut trim_next_left = false;
        while !rest.is_empty() {
            let Some(open) = rest.find("{{") else {
                let t = if trim_next_left {
                    rest.trim_start()
                } else {
                    rest
                };
                if !t.is_empty() {
                    nodes.push(Node::Text(t.to_owned()));
                }
                break;
            };
            let mut before = &rest[..open];
            if trim_next_left {
                before = before.trim_start();
            }
            let mut inner_start = open + 2;
            if rest[inner_start..].starts_with("- ") || rest[inner_start..].starts_with("-\t") {
                before = before.trim_end();
                inner_start += 1;
            }
            if !before.is_empty() {
                nodes.push(Node::Text(before.to_owned()));
            }
            let Some(close_rel) = rest[inner_start..].find("}}") else {
                return perr("unclosed action");
            };
            let close = inner_start + close_rel;
            let mut inner = &rest[inner_start..close];
            trim_next_left = false;
            if inner.ends_with(" -") || inner.ends_with("\t-") {
                inner = &inner[..inner.len() - 1];
                trim_next_left = true;
            }
            let tokens = lex(inner)?;
            if tokens.is_empty() {
                return perr("missing value for command");
            }
            let mut p = Parser { tokens, pos: 0 };
            let pipeline = p.pipeline(0)?;
            if p.pos != p.tokens.len() {
                return perr("unexpected token after pipeline");
            }
            nodes.push(Node::Action(pipeline));
            rest = &rest[close + 2..];
        }
        Ok(UsernameTemplate { nodes })
    }

    /// Renders the template.
    pub fn render(&self, input: &TemplateInput<'_>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => out.push_str(&eval_pipeline(p, input)?.render()),
            }
            if out.len() > MAX_VALUE_LEN {
                return rerr("result too long");
            }
        }
        Ok(out)
    }
}

fn eval_operand(op: &Operand, input: &TemplateInput<'_>) -> Result<Value, TemplateError> {
    Ok(match op {
        Operand::Field(Field::DisplayName) => Value::Str(input.display_name.to_owned()),
        Operand::Field(Field::RoleName) => Value::Str(input.role_name.to_owned()),
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Int(n) => Value::Int(*n),
        Operand::Pipe(p) => eval_pipeline(p, input)?,
    })
}

fn eval_pipeline(p: &Pipeline, input: &TemplateInput<'_>) -> Result<Value, TemplateError> {
    let mut prev: Option<Value> = None;
    for cmd in &p.0 {
        let v = match cmd {
            Command::Operand(op) => {
                if prev.is_some() {
                    return rerr("can't pipe into a non-function");
                }
                eval_operand(op, input)?
            }
            Command::Call(f, args) => {
                let mut vals = args
                    .iter()
                    .map(|a| eval_operand(a, input))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(p) = prev.take() {
                    vals.push(p);
                }
                call(*f, vals, input)?
            }
        };
        if let Value::Str(s) = &v
            && s.len() > MAX_VALUE_LEN
        {
            return rerr("value too long");
        }
        prev = Some(v);
    }
    prev.ok_or_else(|| TemplateError::Render("empty pipeline".into()))
}

fn int(v: &Value, f: &str) -> Result<i64, TemplateError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Str(s) => s
            .parse()
            .map_err(|_| TemplateError::Render(format!("{f}: expected an integer"))),
    }
}

/// The first `n` characters of `s`.
fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Random alphanumerics from the operating system's CSPRNG.
pub(crate) fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn call(f: Func, args: Vec<Value>, input: &TemplateInput<'_>) -> Result<Value, TemplateError> {
    let name = format!("{f:?}").to_lowercase();
    match f.arity() {
        Some(n) if args.len() != n => {
            return rerr(format!(
                "{name}: wrong number of arguments: want {n}, got {}",
                args.len()
            ));
        }
        None if args.is_empty() => return rerr(format!("{name}: missing format")),
        _ => {}
    }
    let s = |i: usize| args[i].render();
    Ok(match f {
        Func::Random => {
            let n = int(&args[0], "random")?;
            if !(1..=MAX_RANDOM).contains(&n) {
                return rerr(format!("random: length must be 1..={MAX_RANDOM}"));
            }
            Value::Str(random_alnum(n as usize))
        }
        Func::Truncate => {
            let n = int(&args[0], "truncate")?;
            if n < 0 {
                return rerr("truncate: negative length");
            }
            Value::Str(truncate_chars(&s(1), n as usize))
        }
        Func::TruncateSha256 => {
            let n = int(&args[0], "truncate_sha256")?;
            if n < 8 {
                return rerr("truncate_sha256: length must be at least 8");
            }
            let text = s(1);
            if text.chars().count() <= n as usize {
                Value::Str(text)
            } else {
                let hash = hex_lower(&Sha256::digest(text.as_bytes()));
                let keep = truncate_chars(&text, n as usize - 8);
                Value::Str(format!("{keep}{}", &hash[..8]))
            }
        }
        Func::Lowercase => Value::Str(s(0).to_lowercase()),
        Func::Uppercase => Value::Str(s(0).to_uppercase()),
        Func::Replace => {
            let (old, new, text) = (s(0), s(1), s(2));
            if old.is_empty() {
                return rerr("replace: empty search string");
            }
            let count = text.matches(old.as_str()).count();
            if text.len() - count * old.len() + count * new.len() > MAX_VALUE_LEN {
                return rerr("replace: result too long");
            }
            Value::Str(text.replace(&old, &new))
        }
        Func::Printf => Value::Str(printf(&s(0), &args[1..])?),
        Func::Uuid => Value::Str(uuid::Uuid::new_v4().to_string()),
        Func::UnixTime => Value::Int(input.now.unix_timestamp()),
        Func::UnixTimeMillis => {
            Value::Int((input.now.unix_timestamp_nanos() / 1_000_000).min(i64::MAX as i128) as i64)
        }
        Func::Timestamp => Value::Str(go_layout(&s(0), input.now)),
        Func::Sha256 => Value::Str(hex_lower(&Sha256::digest(s(0).as_bytes()))),
        Func::Base64 => {
            use base64::Engine as _;
            Value::Str(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
    })
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%d`, `%v`, `%%`.
fn printf(format: &str, args: &[Value]) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'd' | 'v')) => {
                let Some(a) = args.get(next) else {
                    out.push_str(&format!("%!{verb}(MISSING)"));
                    continue;
                };
                next += 1;
                match (verb, a) {
                    ('d', Value::Str(s)) => out.push_str(&format!("%!d(string={s})")),
                    _ => out.push_str(&a.render()),
                }
            }
            Some(other) => return rerr(format!("printf: unsupported verb %{other}")),
            None => out.push_str("%!(NOVERB)"),
        }
        if out.len() > MAX_VALUE_LEN {
            return rerr("printf: result too long");
        }
    }
    Ok(out)
}

/// Formats `t` (in UTC) with a Go reference-time layout (`2006-01-02T15:04:05Z07:00`): the
/// numeric year, month, day, hour, minute, second and fraction tokens, month and weekday
/// names, and zone offsets.
fn go_layout(layout: &str, t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    const TOKENS: &[&str] = &[
        "January",
        "Monday",
        "Z07:00",
        "-07:00",
        "-0700",
        "2006",
        ".000000000",
        ".000000",
        ".000",
        "Jan",
        "Mon",
        "MST",
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "15",
        "PM",
        "_2",
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for tok in TOKENS {
            if let Some(after) = rest.strip_prefix(tok) {
                let frac = |digits: usize| {
                    let n = format!("{:09}", t.nanosecond());
                    format!(".{}", &n[..digits])
                };
                let piece = match *tok {
                    "January" => format!("{}", t.month()),
                    "Monday" => format!("{}", t.weekday()),
                    "Z07:00" => "Z".to_owned(),
                    "-07:00" => "+00:00".to_owned(),
                    "-0700" => "+0000".to_owned(),
                    "2006" => format!("{:04}", t.year()),
                    ".000000000" => frac(9),
                    ".000000" => frac(6),
                    ".000" => frac(3),
                    "Jan" => truncate_chars(&format!("{}", t.month()), 3),
                    "Mon" => truncate_chars(&format!("{}", t.weekday()), 3),
                    "MST" => "UTC".to_owned(),
                    "01" => format!("{:02}", u8::from(t.month())),
                    "02" => format!("{:02}", t.day()),
                    "03" => format!("{:02}", (t.hour() + 11) % 12 + 1),
                    "04" => format!("{:02}", t.minute()),
                    "05" => format!("{:02}", t.second()),
                    "06" => format!("{:02}", t.year().rem_euclid(100)),
                    "15" => format!("{:02}", t.hour()),
                    "PM" => if t.hour() >= 12 { "PM" } else { "AM" }.to_owned(),
                    "_2" => format!("{:>2}", t.day()),
                    _ => String::new(),
                };
                out.push_str(&piece);
                rest = after;
                continue 'outer;
            }
        }
        let mut it = rest.chars();
        if let Some(c) = it.next() {
            out.push(c);
        }
        rest = it.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn input() -> TemplateInput<'static> {
        TemplateInput {
            display_name: "token-alice",
            role_name: "readonly-role",
            now: time::macros::datetime!(2024-03-05 07:08:09.123456789 UTC),
        }
    }

    fn render(t: &str) -> String {
        UsernameTemplate::parse(t)
            .unwrap()
            .render(&input())
            .unwrap()
    }

    #[test]
    fn default_postgres_template_shape() {
        let out = render(DEFAULT_POSTGRES_TEMPLATE);
        let parts: Vec<&str> = out.split('-').collect();
        // v - token-al(ice truncated) - readonly - random20 - unix
        assert!(out.starts_with("v-token-al-readonly-"), "{out}");
        assert!(out.len() <= 63);
        let random = parts[parts.len() - 2];
        assert_eq!(random.len(), 20);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(parts[parts.len() - 1], "1709622489");
    }

    #[test]
    fn functions() {
        assert_eq!(render("{{ .RoleName | uppercase }}"), "READONLY-ROLE");
        assert_eq!(render("{{ \"AbC\" | lowercase }}"), "abc");
        assert_eq!(
            render("{{ .RoleName | replace \"-\" \"_\" }}"),
            "readonly_role"
        );
        assert_eq!(render("x{{ .DisplayName | truncate 5 }}y"), "xtokeny");
        assert_eq!(render("{{ unix_time_millis }}"), "1709622489123");
        assert_eq!(
            render(r#"{{ timestamp "2006-01-02T15:04:05.000Z07:00" }}"#),
            "2024-03-05T07:08:09.123Z"
        );
        assert_eq!(render(r#"{{ printf "%s_%d%%" "a" 7 }}"#), "a_7%");
        assert_eq!(render("{{ uuid }}").len(), 36);
        assert_eq!(render("{{ random 12 }}").len(), 12);
        assert_eq!(render("a {{- \" b \" -}} c"), "a b c");
        assert_eq!(render("{{ sha256 \"\" }}").len(), 64);
        assert_eq!(
            render("{{ truncate_sha256 10 \"abcdefghijklmnop\" }}").len(),
            10
        );
        assert_eq!(render("{{ (printf \"%s\" (unix_time)) }}"), "1709622489");
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        for bad in [
            "{{ nosuch }}",
            "{{ .Unknown }}",
            "{{ random }}x{{",
            "{{ }}",
            "{{ (random 3 }}",
            "{{ \"unterminated }}",
            "{{ .RoleName 3 }}",
        ] {
            assert!(UsernameTemplate::parse(bad).is_err(), "{bad}");
        }
        let long = "a".repeat(MAX_TEMPLATE_LEN + 1);
        assert!(UsernameTemplate::parse(&long).is_err());
        let deep = format!("{{{{ {}uuid{} }}}}", "(".repeat(40), ")".repeat(40));
        assert!(UsernameTemplate::parse(&deep).is_err());
        // parses but fails at render: wrong arity or out-of-bounds values
        for bad in [
            "{{ random 100000 }}",
            "{{ truncate 3 }}",
            "{{ replace \"\" \"x\" \"y\" }}",
        ] {
            let t = UsernameTemplate::parse(bad).unwrap();
            assert!(t.render(&input()).is_err(), "{bad}");
        }
    }

    #[test]
    fn replace_cannot_blow_up() {
        let mut t = "{{ .RoleName".to_owned();
        for _ in 0..20 {
            t.push_str(" | replace \"o\" \"oooooooo\"");
        }
        t.push_str(" }}");
        let parsed = UsernameTemplate::parse(&t).unwrap();
        assert!(parsed.render(&input()).is_err());
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]

        /// Parsing arbitrary text never panics, and whatever parses renders or errors
        /// without panicking, within the size bound.
        #[test]
        fn arbitrary_text_never_panics(text in "(\\{\\{|\\}\\}|[ .|()\"`a-z0-9_A-Z-]){0,80}") {
            if let Ok(t) = UsernameTemplate::parse(&text)
                && let Ok(out) = t.render(&input())
            {
                prop_assert!(out.len() <= MAX_VALUE_LEN);
            }
        }

        /// Mutations of real templates (the default one among them) parse or fail cleanly,
        /// and render within bounds.
        #[test]
        fn mutated_templates_never_panic(text in tresor_testkit::props::mutated(
            &[DEFAULT_POSTGRES_TEMPLATE, "{{ .RoleName | replace \"-\" \"_\" | lowercase }}", "x{{ random 8 }}y"],
            &["{{", "}}", "(", ")", "|", "\"", "`", " random 1000 ", " truncate ", "-", ".DisplayName", " printf \"%s%d%\" "],
        )) {
            if let Ok(t) = UsernameTemplate::parse(&text)
                && let Ok(out) = t.render(&input())
            {
                prop_assert!(out.len() <= MAX_VALUE_LEN);
            }
        }

        /// `truncate N` never yields more than N characters, whatever the names are.
        #[test]
        fn truncate_bounds(n in 0usize..80, display in "\\PC{0,100}", role in "\\PC{0,100}") {
            let t = UsernameTemplate::parse(&format!(
                "{{{{ printf \"%s-%s\" .DisplayName .RoleName | truncate {n} }}}}"
            )).unwrap();
            let out = t.render(&TemplateInput { display_name: &display, role_name: &role, now: input().now }).unwrap();
            prop_assert!(out.chars().count() <= n);
            let joined = format!("{display}-{role}");
            prop_assert!(joined.starts_with(&out));
        }
    }
}
