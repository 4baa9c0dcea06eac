//! Checks of listener addresses (`host:port`) and advertised URLs (`https://host:port`).

/// Splits `host:port` (`[v6]:port` for IPv6) and checks the port. An empty host (`:8200`, which
/// Go reads as "all interfaces") is allowed here; see [`normalize_listen`].
pub(crate) fn split_host_port(addr: &str) -> Result<(&str, u16), String> {
    if addr.contains("{{") {
        return Err(format!(
            "{addr:?} is a go-sockaddr template; Tresor does not render templates, write the \
             address itself"
        ));
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{addr:?} has an unclosed '['"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("{addr:?} has no port; write [{host}]:8200"))?;
        (host, port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("{addr:?} has no port; write HOST:PORT, e.g. 0.0.0.0:8200"))?;
        if host.contains(':') {
            return Err(format!(
                "{addr:?}: IPv6 addresses must be written in brackets, e.g. [::]:8200"
            ));
        }
        (host, port)
    };
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("{addr:?} is not a valid host:port address"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{addr:?} has an invalid port {port:?} (0-65535)"))?;
    Ok((host, port))
}

/// Go's `:8200` means "all interfaces"; it becomes `0.0.0.0:8200` (IPv4 wildcard) so that
/// Rust's socket APIs accept it. Everything else is returned unchanged.
pub(crate) fn normalize_listen(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) if !port.contains(':') => format!("0.0.0.0:{port}"),
        _ => addr.to_owned(),
    }
}

/// The default cluster address of a listener: same host, API port + 1.
pub(crate) fn default_cluster_address(addr: &str) -> Option<String> {
    let (host, port) = split_host_port(addr).ok()?;
    let next = port.checked_add(1)?;
    Some(if host.contains(':') {
        format!("[{host}]:{next}")
    } else {
        format!("{host}:{next}")
    })
}

/// Checks an advertised address such as `api_addr`: `http(s)://host[:port][/path]`.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if url.contains("{{") {
        return Err(format!(
            "{url:?} is a go-sockaddr template; Tresor does not render templates, write the \
             address itself"
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{url:?} must start with https:// or http://, e.g. https://10.0.0.1:8200")
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.contains(':') && !authority.ends_with(']') {
        let (host, _) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
    } else if authority.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} is not a valid URL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("0.0.0.0:8200"), Ok(("0.0.0.0", 8200)));
        assert_eq!(split_host_port("[::1]:8201"), Ok(("::1", 8201)));
        assert_eq!(
            split_host_port("vault.internal:443"),
            Ok(("vault.internal", 443))
        );
        assert!(split_host_port("0.0.0.0").is_err());
        assert!(split_host_port("0.0.0.0:99999").is_err());
        assert!(split_host_port("0.0.0.0:http").is_err());
        assert!(split_host_port("::1:8200").is_err());
        assert!(split_host_port("{{ GetPrivateIP }}:8200").is_err());
    }

    #[test]
    fn cluster_address_is_next_port() {
        assert_eq!(
            default_cluster_address("0.0.0.0:8200").as_deref(),
            Some("0.0.0.0:8201")
        );
        assert_eq!(
            default_cluster_address("[::]:8200").as_deref(),
            Some("[::]:8201")
        );
        assert_eq!(default_cluster_address("x:65535"), None);
        assert_eq!(normalize_listen(":8200"), "0.0.0.0:8200");
        assert_eq!(normalize_listen("[::]:8200"), "[::]:8200");
    }

    #[test]
    fn urls() {
        assert!(check_url("https://10.0.1.10:8200").is_ok());
        assert!(check_url("http://127.0.0.1:8200").is_ok());
        assert!(check_url("https://vault.example.com").is_ok());
        assert!(check_url("https://[::1]:8200").is_ok());
        assert!(check_url("10.0.1.10:8200").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://host:port").is_err());
        assert!(check_url("https://{{ GetPrivateIP }}:8201").is_err());
    }
}
