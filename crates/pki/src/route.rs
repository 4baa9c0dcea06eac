//! Paths of the PKI engine, relative to the mount (pure).

/// How a CA certificate or CRL is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// Bare DER (`ca`, `crl`).
    Der,
    /// Bare PEM (`ca/pem`, `ca_chain`, `crl/pem`).
    Pem,
    /// JSON, the PEM in `certificate` (`cert/ca`, `cert/ca_chain`, `cert/crl`).
    Json,
}

/// An endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `root/generate/internal` (false) or `root/generate/exported` (true).
    GenerateRoot {
        /// Whether the answer carries the private key.
        exported: bool,
    },
    /// `root` (DELETE removes the CA).
    Root,
    /// `config/urls`.
    Urls,
    /// `config/crl`.
    CrlConfig,
    /// `roles` / `roles/` (LIST).
    Roles,
    /// `roles/<name>`.
    Role(&'a str),
    /// `issue/<role>`.
    Issue(&'a str),
    /// `revoke`.
    Revoke,
    /// `ca`, `ca/pem`, `cert/ca`.
    Ca(Form),
    /// `ca_chain`, `cert/ca_chain`.
    CaChain(Form),
    /// `crl`, `crl/pem`, `cert/crl`.
    Crl(Form),
    /// `crl/rotate`.
    CrlRotate,
    /// `cert/<serial>`.
    Cert(&'a str),
    /// `certs` / `certs/` (LIST).
    Certs,
    /// `certs/revoked` (LIST).
    RevokedCerts,
    /// `tidy`.
    Tidy,
}

/// The endpoint at `path`, if any.
pub(crate) fn parse(path: &str) -> Option<Route<'_>> {
    Some(match path {
        "root/generate/internal" => Route::GenerateRoot { exported: false },
        "root/generate/exported" => Route::GenerateRoot { exported: true },
        "root" => Route::Root,
        "config/urls" => Route::Urls,
        "config/crl" => Route::CrlConfig,
        "roles" | "roles/" => Route::Roles,
        "revoke" => Route::Revoke,
        "ca" => Route::Ca(Form::Der),
        "ca/pem" => Route::Ca(Form::Pem),
        "cert/ca" => Route::Ca(Form::Json),
        "ca_chain" => Route::CaChain(Form::Pem),
        "cert/ca_chain" => Route::CaChain(Form::Json),
        "crl" => Route::Crl(Form::Der),
        "crl/pem" => Route::Crl(Form::Pem),
        "cert/crl" => Route::Crl(Form::Json),
        "crl/rotate" => Route::CrlRotate,
        "certs" | "certs/" => Route::Certs,
        "certs/revoked" | "certs/revoked/" => Route::RevokedCerts,
        "tidy" => Route::Tidy,
        _ => {
            if let Some(n) = path.strip_prefix("roles/") {
                Route::Role(single(n)?)
            } else if let Some(n) = path.strip_prefix("issue/") {
                Route::Issue(single(n)?)
            } else if let Some(s) = path.strip_prefix("cert/") {
                Route::Cert(single(s)?)
            } else {
                return None;
            }
        }
    })
}

/// `s` when it is one non-empty segment.
fn single(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.contains('/')).then_some(s)
}

/// Paths served without a token (relative to the mount; `*` is a suffix glob): the CA
/// certificate and chain, the CRL and single certificates, as Vault serves them.
pub(crate) fn unauthenticated() -> Vec<String> {
    ["cert/*", "ca/pem", "ca_chain", "ca", "crl/pem", "crl"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse("issue/my-role"), Some(Route::Issue("my-role")));
        assert_eq!(parse("roles/"), Some(Route::Roles));
        assert_eq!(parse("roles/a"), Some(Route::Role("a")));
        assert_eq!(parse("cert/ca"), Some(Route::Ca(Form::Json)));
        assert_eq!(parse("crl"), Some(Route::Crl(Form::Der)));
        assert_eq!(parse("cert/01:02"), Some(Route::Cert("01:02")));
        assert_eq!(parse("issue/"), None);
        assert_eq!(parse("issue/a/b"), None);
        assert_eq!(parse("sign/a"), None);
        assert_eq!(
            parse("root/generate/exported"),
            Some(Route::GenerateRoot { exported: true })
        );
    }
}
