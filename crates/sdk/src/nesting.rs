//! A cheap, iterative bound on how deeply HCL or JSON text nests, checked before the text is
//! handed to a recursive parser.
//!
//! The HCL parser (hcl-rs / hcl-edit) and the code that converts its output recurse once per
//! level of nesting, and so does dropping the trees they build. Text such as `x = [[[[…]]]]`
//! nested 100,000 deep would overflow the thread's stack and abort the process, which no
//! `Result` can catch. [`check_depth`] walks the text once, without recursion and with memory
//! bounded by the limit, and refuses it before any parser sees it.
//!
//! # What counts as depth
//!
//! The score is deliberately an over-estimate of the parser's recursion, so text that passes
//! can never recurse deeper than the limit allows:
//!
//! * every open `{`, `[`, `(` counts one level until its closing bracket;
//! * in HCL, a quoted string or heredoc counts one level (it is a template), a template
//!   interpolation `${ … }` or directive `%{ … }` counts one level, and every directive also
//!   counts one more level for the rest of its template (`%{ if }` bodies nest without
//!   brackets);
//! * in HCL, every token of an expression that is not a bracket (identifier, string, operator
//!   character such as `!`, `-`, `+`, `?`, `=`) counts one level until the next `,` of the
//!   same bracket, or the next line break in a block or object body. Unary and binary
//!   operators and conditionals nest without brackets (`!!!!x`, `1+1+1+…`), and so do block
//!   labels (`a "l1" "l2" … { }` becomes one nested object per label).
//!
//! Comments (`#`, `//`, `/* */`), string escapes (`\"`), escaped template markers (`$${`,
//! `%%{`) and heredoc bodies (`<<EOF … EOF`, `<<-EOF`) are recognised so that brackets inside
//! them are not counted. In JSON only `{` and `[` count, and strings are skipped.
//!
//! Malformed text is never an error here: unbalanced or mismatched closers are ignored (which
//! can only over-count) and the parser reports the syntax error afterwards.

use std::fmt;

/// Which syntax the text is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// HCL (native syntax, with templates, heredocs and comments).
    Hcl,
    /// JSON.
    Json,
}

/// The text nests deeper than the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    /// The limit that was exceeded.
    pub limit: usize,
    /// One-based line where the limit was first exceeded.
    pub line: usize,
    /// One-based column (in characters) where the limit was first exceeded.
    pub column: usize,
    /// The top-level key whose value is too deep (the first word of the top-level HCL
    /// statement, or the key of the top-level JSON object), when there is one.
    pub key: Option<String>,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nesting exceeds the maximum depth of {} (line {}, column {})",
            self.limit, self.line, self.column
        )
    }
}

impl std::error::Error for TooDeep {}

/// Refuses `text` when it nests deeper than `limit` (see the module documentation for what
/// counts). Runs in one pass over the bytes, without recursion, with memory bounded by
/// `limit`.
pub fn check_depth(text: &str, syntax: Syntax, limit: usize) -> Result<(), TooDeep> {
    Scanner::new(text.as_bytes(), syntax, limit)
        .run()
        .map(|_| ())
}

/// The highest depth score `text` reaches (see the module documentation). Memory grows with
/// the nesting of the text; meant for tests and diagnostics, use [`check_depth`] on input.
pub fn depth(text: &str, syntax: Syntax) -> usize {
    Scanner::new(text.as_bytes(), syntax, usize::MAX)
        .run()
        .unwrap_or(usize::MAX)
}

/// One open construct.
#[derive(Debug)]
enum Frame {
    /// Expression or body code: the top level, `{`, `[`, `(`, or an interpolation/directive
    /// (closed by `}`).
    Code {
        /// The byte that closes it (0 for the top level, which is never closed).
        close: u8,
        /// Whether a line break ends the current expression (block and object bodies).
        newline_resets: bool,
        /// Tokens counted since the last `,` or resetting line break.
        tokens: usize,
    },
    /// A quoted string (a template in HCL).
    Str {
        /// Directives seen in it (each nests the rest of the template).
        directives: usize,
    },
    /// A heredoc body.
    Heredoc {
        /// The closing marker (byte range in the text).
        marker: (usize, usize),
        /// Whether the scanner is at the start of a body line.
        line_start: bool,
        /// Directives seen in it.
        directives: usize,
    },
}

impl Frame {
    /// The levels this frame adds to the score beyond its own one.
    fn extra(&self) -> usize {
        match self {
            Frame::Code { tokens, .. } => *tokens,
            Frame::Str { directives } | Frame::Heredoc { directives, .. } => *directives,
        }
    }
}

struct Scanner<'a> {
    text: &'a [u8],
    syntax: Syntax,
    limit: usize,
    /// Open frames; index 0 is the top level and does not count as a level itself.
    stack: Vec<Frame>,
    /// Current score: open frames (other than the top level) plus their extras.
    score: usize,
    /// Highest score seen.
    max: usize,
    /// The current top-level key (byte range).
    key: Option<(usize, usize)>,
    /// Where a top-level string that may become the key started.
    key_start: Option<usize>,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a [u8], syntax: Syntax, limit: usize) -> Self {
        Scanner {
            text,
            syntax,
            limit,
            stack: vec![Frame::Code {
                close: 0,
                newline_resets: true,
                tokens: 0,
            }],
            score: 0,
            max: 0,
            key: None,
            key_start: None,
            pos: 0,
        }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.text.get(self.pos + offset).copied()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.text
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    /// Raises the score by `n`, failing when it passes the limit.
    fn raise(&mut self, n: usize) -> Result<(), TooDeep> {
        self.score = self.score.saturating_add(n);
        self.max = self.max.max(self.score);
        if self.score > self.limit {
            return Err(self.error());
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame) -> Result<(), TooDeep> {
        self.stack.push(frame);
        self.raise(1)
    }

    fn pop(&mut self) {
        if self.stack.len() > 1
            && let Some(frame) = self.stack.pop()
        {
            self.score = self.score.saturating_sub(1 + frame.extra());
        }
    }

    /// Counts one token in the innermost code frame (HCL only).
    fn token(&mut self) -> Result<(), TooDeep> {
        if let Some(Frame::Code { tokens, .. }) = self.stack.last_mut() {
            *tokens += 1;
            return self.raise(1);
        }
        Ok(())
    }

    /// Forgets the tokens of the innermost code frame (after `,` or a resetting line break).
    fn reset_tokens(&mut self) {
        if let Some(Frame::Code { tokens, .. }) = self.stack.last_mut() {
            self.score = self.score.saturating_sub(*tokens);
            *tokens = 0;
        }
    }

    fn at_top_level(&self) -> bool {
        self.stack.len() == 1
    }

    fn top_level_tokens(&self) -> usize {
        match self.stack.first() {
            Some(Frame::Code { tokens, .. }) => *tokens,
            _ => 0,
        }
    }

    fn run(mut self) -> Result<usize, TooDeep> {
        while self.pos < self.text.len() {
            match self.stack.last() {
                Some(Frame::Code { .. }) | None => match self.syntax {
                    Syntax::Hcl => self.hcl_code()?,
                    Syntax::Json => self.json_code()?,
                },
                Some(Frame::Str { .. }) => match self.syntax {
                    Syntax::Hcl => self.hcl_string()?,
                    Syntax::Json => self.json_string(),
                },
                Some(Frame::Heredoc { .. }) => self.heredoc()?,
            }
        }
        Ok(self.max)
    }

    /// Opens or closes a bracket; returns whether `b` was one.
    fn bracket(&mut self, b: u8) -> Result<bool, TooDeep> {
        let (close, newline_resets) = match b {
            b'{' => (b'}', true),
            b'[' => (b']', false),
            b'(' if self.syntax == Syntax::Hcl => (b')', false),
            b'}' | b']' | b')' => {
                if matches!(self.stack.last(), Some(Frame::Code { close, .. }) if *close == b) {
                    self.pop();
                }
                self.pos += 1;
                return Ok(true);
            }
            _ => return Ok(false),
        };
        self.pos += 1;
        self.push(Frame::Code {
            close,
            newline_resets,
            tokens: 0,
        })?;
        Ok(true)
    }

    fn json_code(&mut self) -> Result<(), TooDeep> {
        let b = self.text[self.pos];
        if b == b'"' {
            self.pos += 1;
            if self.stack.len() == 2 {
                self.key_start = Some(self.pos);
            }
            // Strings do not count as a level in JSON.
            self.stack.push(Frame::Str { directives: 0 });
            return Ok(());
        }
        if !self.bracket(b)? {
            self.pos += 1;
        }
        Ok(())
    }

    fn json_string(&mut self) {
        match self.text[self.pos] {
            b'\\' => self.pos += 2,
            b'"' => {
                let end = self.pos;
                self.pos += 1;
                self.stack.pop();
                if self.stack.len() == 2
                    && let Some(start) = self.key_start.take()
                    && self.next_non_space() == Some(b':')
                {
                    self.key = Some((start, end));
                }
            }
            _ => self.pos += 1,
        }
    }

    fn next_non_space(&self) -> Option<u8> {
        self.text
            .get(self.pos..)?
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
    }

    fn hcl_code(&mut self) -> Result<(), TooDeep> {
        let b = self.text[self.pos];
        match b {
            b'#' => self.skip_line(),
            b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
            b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
            b'\n' => {
                self.pos += 1;
                if matches!(
                    self.stack.last(),
                    Some(Frame::Code {
                        newline_resets: true,
                        ..
                    })
                ) {
                    self.reset_tokens();
                }
            }
            b',' => {
                self.pos += 1;
                self.reset_tokens();
            }
            b'"' => {
                if self.at_top_level() && self.top_level_tokens() == 0 {
                    self.key_start = Some(self.pos + 1);
                }
                self.token()?;
                self.pos += 1;
                self.push(Frame::Str { directives: 0 })?;
            }
            b'<' if self.peek(1) == Some(b'<') && self.heredoc_start()? => {}
            b'!' | b'-' | b'+' | b'*' | b'/' | b'%' | b'<' | b'>' | b'&' | b'|' | b'?' | b'='
            | b':' => {
                self.pos += 1;
                self.token()?;
            }
            b if is_ident_start(b) => {
                let start = self.pos;
                let top_first = self.at_top_level() && self.top_level_tokens() == 0;
                while self.pos < self.text.len() && is_ident_continue(self.text[self.pos]) {
                    self.pos += 1;
                }
                if top_first {
                    self.key = Some((start, self.pos));
                }
                self.token()?;
            }
            b if b.is_ascii_digit() => {
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
                {
                    self.pos += 1;
                }
            }
            _ => {
                if !self.bracket(b)? {
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    fn skip_line(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        self.pos += 2;
        while self.pos < self.text.len() && !self.starts_with(b"*/") {
            self.pos += 1;
        }
        self.pos = (self.pos + 2).min(self.text.len());
    }

    /// At `<<`: opens a heredoc when `<<ID` or `<<-ID` is followed by a line break.
    fn heredoc_start(&mut self) -> Result<bool, TooDeep> {
        let mut i = self.pos + 2;
        if self.text.get(i) == Some(&b'-') {
            i += 1;
        }
        let start = i;
        if !self.text.get(i).copied().is_some_and(is_ident_start) {
            return Ok(false);
        }
        while self.text.get(i).copied().is_some_and(is_ident_continue) {
            i += 1;
        }
        let end = i;
        if self.text.get(i) == Some(&b'\r') {
            i += 1;
        }
        if self.text.get(i) != Some(&b'\n') {
            return Ok(false);
        }
        self.token()?;
        self.pos = i + 1;
        self.push(Frame::Heredoc {
            marker: (start, end),
            line_start: true,
            directives: 0,
        })?;
        Ok(true)
    }

    /// At `$` or `%` inside a template: opens an interpolation or directive, skips an escaped
    /// marker; returns whether it did either.
    fn template_marker(&mut self) -> Result<bool, TooDeep> {
        if self.starts_with(b"$${") || self.starts_with(b"%%{") {
            self.pos += 3;
            return Ok(true);
        }
        let directive = self.starts_with(b"%{");
        if !(directive || self.starts_with(b"${")) {
            return Ok(false);
        }
        if directive {
            if let Some(Frame::Str { directives } | Frame::Heredoc { directives, .. }) =
                self.stack.last_mut()
            {
                *directives += 1;
            }
            self.raise(1)?;
        }
        self.pos += 2;
        self.push(Frame::Code {
            close: b'}',
            newline_resets: false,
            tokens: 0,
        })?;
        Ok(true)
    }

    fn hcl_string(&mut self) -> Result<(), TooDeep> {
        match self.text[self.pos] {
            b'\\' => self.pos += 2,
            b'"' => {
                let end = self.pos;
                self.pos += 1;
                self.pop();
                if self.at_top_level()
                    && let Some(start) = self.key_start.take()
                {
                    self.key = Some((start, end));
                }
            }
            b'$' | b'%' => {
                if !self.template_marker()? {
                    self.pos += 1;
                }
            }
            _ => self.pos += 1,
        }
        Ok(())
    }

    fn heredoc(&mut self) -> Result<(), TooDeep> {
        let Some(Frame::Heredoc {
            marker: (m_start, m_end),
            line_start,
            ..
        }) = self.stack.last()
        else {
            return Ok(());
        };
        let (m_start, m_end, line_start) = (*m_start, *m_end, *line_start);
        if line_start {
            if let Some(Frame::Heredoc { line_start, .. }) = self.stack.last_mut() {
                *line_start = false;
            }
            while matches!(self.peek(0), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            // Ending at the first line that starts with the marker ends no later than the
            // parser does, so nothing the parser reads as code is skipped as text.
            if self.starts_with(&self.text[m_start..m_end]) {
                self.pos += m_end - m_start;
                self.pop();
            }
            return Ok(());
        }
        match self.text[self.pos] {
            b'\n' => {
                self.pos += 1;
                if let Some(Frame::Heredoc { line_start, .. }) = self.stack.last_mut() {
                    *line_start = true;
                }
            }
            b'$' | b'%' => {
                if !self.template_marker()? {
                    self.pos += 1;
                }
            }
            _ => self.pos += 1,
        }
        Ok(())
    }

    fn error(&self) -> TooDeep {
        let upto = &self.text[..self.pos.min(self.text.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&upto[line_start..]).chars().count() + 1;
        let key = self.key.and_then(|(s, e)| {
            let k = String::from_utf8_lossy(self.text.get(s..e)?);
            Some(k.chars().take(100).collect())
        });
        TooDeep {
            limit: self.limit,
            line,
            column,
            key,
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcl(s: &str) -> usize {
        depth(s, Syntax::Hcl)
    }

    #[test]
    fn brackets_count_and_close() {
        assert_eq!(depth("{}", Syntax::Json), 1);
        assert_eq!(depth(r#"{"a": [[1], [2]]}"#, Syntax::Json), 3);
        assert_eq!(depth(r#"{"a": "[[[[{{{{"}"#, Syntax::Json), 1);
        assert_eq!(depth(r#"{"a\"[[": 1}"#, Syntax::Json), 1);
        assert_eq!(depth(&"[".repeat(10), Syntax::Json), 10);
    }

    #[test]
    fn typical_policy_is_shallow() {
        let p = "# comment [[[[\npath \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";
        assert!(hcl(p) <= 10, "{}", hcl(p));
    }

    #[test]
    fn operators_and_labels_count() {
        assert!(hcl(&format!("x = {}true\n", "!".repeat(50))) >= 50);
        assert!(hcl(&format!("x = 1{}\n", "+1".repeat(50))) >= 50);
        assert!(hcl(&format!("a {} {{}}\n", "\"l\" ".repeat(50))) >= 50);
        // a line break in a body ends the expression
        assert!(hcl(&"a = -1\n".repeat(500)) < 5);
        // a comma ends an element
        assert!(hcl(&format!("a = [{}]\n", "-1, ".repeat(500))) < 5);
    }

    #[test]
    fn comments_strings_and_heredocs_hide_brackets() {
        let deep = "[".repeat(200);
        for text in [
            format!("# {deep}\na = 1\n"),
            format!("// {deep}\na = 1\n"),
            format!("/* {deep} */ a = 1\n"),
            format!("a = \"{deep}\"\n"),
            format!("a = \"\\\"{deep}\"\n"),
            format!("a = \"$${{{deep}\"\n"),
            format!("a = <<EOF\n{deep}\nEOF\n"),
            format!("a = <<-EOT\n  {deep}\n  EOT\n"),
        ] {
            assert!(hcl(&text) < 10, "{text}: {}", hcl(&text));
        }
    }

    #[test]
    fn interpolations_and_directives_nest() {
        let text = format!("a = \"{}\"\n", "${\"".repeat(40));
        assert!(hcl(&text) >= 80);
        let text = format!("a = <<EOF\n{}\nEOF\n", "%{ if x }".repeat(60));
        assert!(hcl(&text) >= 60);
        // the heredoc ends: brackets after it count
        let text = format!("a = <<EOF\nx\nEOF\nb = {}\n", "[".repeat(60));
        assert!(hcl(&text) >= 60);
    }

    #[test]
    fn error_names_position_and_key() {
        let text = format!(
            "ui = true\nlistener \"tcp\" {{\n  x = {}\n}}\n",
            "[".repeat(200)
        );
        let err = check_depth(&text, Syntax::Hcl, 100).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.key.as_deref(), Some("listener"));
        assert_eq!(err.limit, 100);
        let text = format!("{{\"ui\": true, \"seal\": {}}}", "[".repeat(200));
        let err = check_depth(&text, Syntax::Json, 100).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("seal"));
        assert_eq!(err.line, 1);
        let text = format!("\"path\" = {}", "{".repeat(200));
        let err = check_depth(&text, Syntax::Hcl, 100).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("path"));
    }

    #[test]
    fn hundred_thousand_deep_is_refused_cheaply() {
        for open in ["[", "{", "(", "!", "-", "\"${", "a{"] {
            let text = format!("x = {}", open.repeat(100_000));
            assert!(check_depth(&text, Syntax::Hcl, 100).is_err(), "{open}");
        }
        assert!(check_depth(&"[".repeat(100_000), Syntax::Json, 100).is_err());
    }

    #[test]
    fn malformed_text_never_panics() {
        for text in [
            "",
            "\"",
            "\\",
            "<<",
            "<<-",
            "<<E",
            "<<EOF",
            "<<EOF\n",
            "/*",
            "/",
            "${",
            "\"${",
            "\"%{",
            "]]]}}}",
            "\"\\",
            "a = <<EOF\r\n${",
        ] {
            let _ = depth(text, Syntax::Hcl);
            let _ = depth(text, Syntax::Json);
        }
    }
}
