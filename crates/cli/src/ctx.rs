//! Per-invocation state: the environment and output streams, plus the helpers every command
//! uses to parse flags, connect and print.

use std::io::Write;

use serde_json::Value;

use crate::args::{self, COMMON, Flag, Parsed};
use crate::client::Client;
use crate::env::Env;
use crate::error::CliError;
use crate::output;
use crate::settings::{Format, Settings};

/// The environment and streams of one CLI run.
pub(crate) struct Ctx<'a> {
    pub(crate) env: &'a dyn Env,
    pub(crate) out: &'a mut dyn Write,
    pub(crate) err: &'a mut dyn Write,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(env: &'a dyn Env, out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Self { env, out, err }
    }

    /// Writes to stdout (a closed stdout is not worth failing over).
    pub(crate) fn print(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }

    /// Writes to stderr.
    pub(crate) fn eprint(&mut self, s: &str) {
        let _ = self.err.write_all(s.as_bytes());
    }

    /// Parses a command's flags (plus the common ones). `None` means help was asked for and
    /// printed. Flags after positionals are warned about, as Vault does.
    pub(crate) fn parse(
        &mut self,
        usage: &str,
        flags: &[Flag],
        argv: &[String],
    ) -> Result<Option<Parsed>, CliError> {
        let p = args::parse(&[flags, COMMON], argv)
            .map_err(|e| CliError::Usage(format!("{e}\n\n{usage}")))?;
        if p.help {
            self.print(usage);
            return Ok(None);
        }
        if !p.late_flags.is_empty() {
            self.eprint(&format!(
                "WARNING! Flags must come before positional arguments; these were not \
                 parsed as flags: [{}]\n",
                p.late_flags.join(" ")
            ));
        }
        Ok(Some(p))
    }

    /// Resolves settings and builds a client.
    pub(crate) fn connect(&self, p: &Parsed) -> Result<(Settings, Client), CliError> {
        let s = Settings::resolve(p, self.env)?;
        let c = Client::new(&s)?;
        Ok((s, c))
    }

    /// Prints a raw field value (newline only on a terminal, as Vault).
    pub(crate) fn print_raw(&mut self, v: &str) {
        self.print(v);
        if self.env.stdout_is_tty() {
            self.print("\n");
        }
    }

    /// Prints warnings of a response to stderr.
    pub(crate) fn warnings(&mut self, secret: &Value) {
        let Some(ws) = secret.get("warnings").and_then(Value::as_array) else {
            return;
        };
        if ws.is_empty() {
            return;
        }
        let mut s =
            String::from("WARNING! The following warnings were returned from the server:\n\n");
        for w in ws {
            s.push_str(&format!("  * {}\n\n", output::value_text(w)));
        }
        self.eprint(&s);
    }

    /// Prints a secret the way the settings ask: `-field`, JSON, or a Key/Value table.
    pub(crate) fn show_secret(&mut self, st: &Settings, secret: &Value) -> Result<i32, CliError> {
        if let Some(f) = &st.field {
            return match output::field(secret, f) {
                Some(v) => {
                    self.print_raw(&v);
                    Ok(0)
                }
                None => Err(CliError::Failed(format!(
                    "Field {f:?} not present in secret"
                ))),
            };
        }
        match st.format {
            Format::Json => self.print(&output::json(secret)),
            Format::Table => {
                self.warnings(secret);
                let rows = output::secret_rows(secret);
                if !rows.is_empty() {
                    self.print(&output::kv_table(&rows));
                }
            }
        }
        Ok(0)
    }

    /// Prints a flat object (raw sys responses): `-field`, JSON, or a table of `rows`.
    pub(crate) fn show_object(
        &mut self,
        st: &Settings,
        body: &Value,
        rows: Vec<(String, String)>,
    ) -> Result<i32, CliError> {
        if let Some(f) = &st.field {
            let v = body
                .get(f)
                .or_else(|| body.get("data").and_then(|d| d.get(f)))
                .map(output::value_text)
                .or_else(|| rows.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone()));
            return match v {
                Some(v) => {
                    self.print_raw(&v);
                    Ok(0)
                }
                None => Err(CliError::Failed(format!(
                    "Field {f:?} not present in response"
                ))),
            };
        }
        match st.format {
            Format::Json => self.print(&output::json(body)),
            Format::Table => self.print(&output::kv_table(&rows)),
        }
        Ok(0)
    }

    /// Reads a value argument: `-` means stdin, `@path` a file, anything else is literal.
    pub(crate) fn value_arg(&self, v: &str) -> Result<String, CliError> {
        if v == "-" {
            self.env
                .read_stdin()
                .map_err(|e| CliError::io("Error reading stdin", e))
        } else if let Some(path) = v.strip_prefix('@') {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::io(format!("Error reading file {path}"), e))
        } else {
            Ok(v.to_owned())
        }
    }

    /// One line from stdin, trimmed (unseal keys, tokens).
    pub(crate) fn stdin_line(&self) -> Result<String, CliError> {
        let all = self
            .env
            .read_stdin()
            .map_err(|e| CliError::io("Error reading stdin", e))?;
        Ok(all.lines().next().unwrap_or("").trim().to_owned())
    }
}

/// Checks the number of positional arguments.
pub(crate) fn want_args(p: &Parsed, min: usize, max: usize, usage: &str) -> Result<(), CliError> {
    let n = p.positionals.len();
    if n < min || n > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(CliError::Usage(format!(
            "Incorrect number of arguments (expected {want}, got {n})\n\n{usage}"
        )));
    }
    Ok(())
}

/// Parses `k=v` data arguments (`k=@file`, `k=-` for stdin, or a lone `-` for a JSON object
/// on stdin) into a JSON object.
pub(crate) fn data_args(
    ctx: &Ctx<'_>,
    items: &[String],
) -> Result<serde_json::Map<String, Value>, CliError> {
    let mut m = serde_json::Map::new();
    for it in items {
        if it == "-" {
            let text = ctx.value_arg("-")?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Failed(format!("Failed to parse JSON input: {e}")))?;
            match v {
                Value::Object(o) => m.extend(o),
                _ => return Err(CliError::Failed("JSON input must be an object".into())),
            }
            continue;
        }
        let Some((k, v)) = it.split_once('=') else {
            return Err(CliError::Usage(format!(
                "Failed to parse K=V data: format must be key=value: {it:?}"
            )));
        };
        if k.is_empty() {
            return Err(CliError::Usage(format!(
                "Failed to parse K=V data: empty key in {it:?}"
            )));
        }
        m.insert(k.to_owned(), Value::String(ctx.value_arg(v)?));
    }
    Ok(m)
}
