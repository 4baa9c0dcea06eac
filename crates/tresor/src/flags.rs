//! Flag parsing for `tresor server`, accepting Vault's single-dash style (`-config=FILE`,
//! `-dev`) as well as `--config FILE`.

/// The server's command-line options.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ServerFlags {
    pub(crate) config: Vec<String>,
    pub(crate) check: bool,
    pub(crate) dev: bool,
    pub(crate) dev_root_token_id: Option<String>,
    pub(crate) dev_listen_address: Option<String>,
    pub(crate) dev_three_node: bool,
    pub(crate) log_level: Option<String>,
    pub(crate) log_format: Option<String>,
}

/// Parses the arguments after `server`.
pub(crate) fn parse(args: &[String]) -> Result<ServerFlags, String> {
    let mut f = ServerFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (stripped, None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| format!("flag -{name} needs a value"))
        };
        let boolean = |inline: &Option<String>| -> Result<bool, String> {
            match inline.as_deref() {
                None | Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(v) => Err(format!("flag -{name}: invalid boolean {v:?}")),
            }
        };
        match name {
            "config" => f.config.push(value(&mut i)?),
            "check" => f.check = boolean(&inline)?,
            "dev" => f.dev = boolean(&inline)?,
            "dev-root-token-id" => f.dev_root_token_id = Some(value(&mut i)?),
            "dev-listen-address" => f.dev_listen_address = Some(value(&mut i)?),
            "dev-three-node" | "dev-ha" => f.dev_three_node = boolean(&inline)?,
            "log-level" => f.log_level = Some(value(&mut i)?),
            "log-format" => f.log_format = Some(value(&mut i)?),
            other => return Err(format!("unknown flag -{other}")),
        }
        i += 1;
    }
    if !f.dev && f.config.is_empty() {
        return Err("either -config=PATH or -dev is required".into());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_and_double_dash() {
        let f = parse(&v(&["-config=a.hcl", "--config", "b.hcl", "-check"])).unwrap();
        assert_eq!(f.config, vec!["a.hcl", "b.hcl"]);
        assert!(f.check);
        let f = parse(&v(&[
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address",
            "127.0.0.1:1",
        ]))
        .unwrap();
        assert!(f.dev);
        assert_eq!(f.dev_root_token_id.as_deref(), Some("root"));
        assert_eq!(f.dev_listen_address.as_deref(), Some("127.0.0.1:1"));
        let f = parse(&v(&["-dev", "-log-format=json", "-log-level", "trace"])).unwrap();
        assert_eq!(f.log_format.as_deref(), Some("json"));
        assert_eq!(f.log_level.as_deref(), Some("trace"));
    }

    #[test]
    fn errors() {
        assert!(parse(&v(&[])).is_err());
        assert!(parse(&v(&["-bogus"])).is_err());
        assert!(parse(&v(&["-config"])).is_err());
        assert!(parse(&v(&["stray"])).is_err());
        assert!(parse(&v(&["-dev=maybe"])).is_err());
    }
}
