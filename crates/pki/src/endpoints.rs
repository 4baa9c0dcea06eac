//! The handlers behind each route.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{Operation, Request, Response, ResponseStatus, Secret, fields};

use crate::error::PkiError;
use crate::issue::{CertFormat, Validity, build_leaf, parse_request};
use crate::keys::{KeyFormat, KeySpec, PrivateKey};
use crate::role::{Role, effective_ttl, valid_name};
use crate::route::{self, Route};
use crate::store::{CaBundle, CertEntry, Revoked, Store, StoredCrl};
use crate::{Pki, ca, crl, pem, serial};

/// Vault's system default TTL (768h), used when the mount reports none.
const FALLBACK_TTL: u64 = 768 * 3600;

/// How far back a root's validity starts, as for leaves by default.
const ROOT_BACKDATE: i64 = 30;

type Answer = Result<Option<Response>, PkiError>;

fn invalid(e: tresor_sdk::LogicalError) -> PkiError {
    PkiError::Invalid(e.to_string())
}

fn data(v: Value) -> Option<Response> {
    Some(Response::json(v))
}

/// RFC 3339 text of Unix seconds.
fn rfc3339(secs: i64) -> String {
    ca::to_time(secs)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The answer to a LIST: `keys`, or nothing (404) when empty.
fn list(keys: Vec<String>) -> Option<Response> {
    if keys.is_empty() {
        None
    } else {
        data(json!({ "keys": keys }))
    }
}

/// Fresh key material, off the async threads (RSA generation takes a while).
async fn generate_key(spec: KeySpec) -> Result<PrivateKey, PkiError> {
    tokio::task::spawn_blocking(move || PrivateKey::generate(spec)).await?
}

impl Pki {
    /// Whether the object a write names exists (roles only), so the core asks for `create`
    /// or `update`.
    pub(crate) async fn exists(&self, req: &Request) -> Result<Option<bool>, PkiError> {
        match route::parse(&req.path) {
            Some(Route::Role(name)) if valid_name(name) => {
                Ok(Some(Store::new(&req.storage).role(name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) async fn dispatch(&self, req: &Request) -> Answer {
        use Operation::{Create, Delete, List, Read, Renew, Revoke, Update};
        if req.operation == Revoke {
            return self.revoke_lease(req).await;
        }
        if req.operation == Renew {
            return Err(PkiError::Invalid(
                "certificates issued by the PKI engine cannot be renewed".to_owned(),
            ));
        }
        let Some(route) = route::parse(&req.path) else {
            return Err(PkiError::Unsupported);
        };
        let store = Store::new(&req.storage);
        match (route, req.operation) {
            (Route::GenerateRoot { exported }, Create | Update) => {
                self.generate_root(req, exported).await
            }
            (Route::Root, Delete) => {
                let _w = self.writes.lock().await;
                store.delete_ca().await?;
                Ok(None)
            }
            (Route::Urls, Read) => Ok(data(store.urls().await?.to_json())),
            (Route::Urls, Create | Update) => {
                let urls = store.urls().await?.update(&req.data)?;
                store.save_urls(&urls).await?;
                Ok(None)
            }
            (Route::CrlConfig, Read) => Ok(data(store.crl_config().await?.to_json())),
            (Route::CrlConfig, Create | Update) => {
                let _w = self.writes.lock().await;
                let config = store.crl_config().await?.update(&req.data)?;
                store.save_crl_config(&config).await?;
                if let Some(ca) = store.ca().await? {
                    self.rebuild_crl(&store, &ca).await?;
                }
                Ok(data(config.to_json()))
            }
            (Route::Roles, List) => Ok(list(store.roles().await?)),
            (Route::Role(name), Read) => {
                check_role_name(name)?;
                Ok(store.role(name).await?.map(|r| Response::json(r.to_json())))
            }
            (Route::Role(name), Create | Update) => {
                check_role_name(name)?;
                let role = Role::from_request(&req.data)?;
                store.save_role(name, &role).await?;
                Ok(data(role.to_json()))
            }
            (Route::Role(name), Delete) => {
                check_role_name(name)?;
                store.delete_role(name).await?;
                Ok(None)
            }
            (Route::Issue(role), Create | Update) => self.issue(req, role).await,
            (Route::Revoke, Create | Update) => {
                let text = fields::get_str(&req.data, "serial_number")
                    .map_err(invalid)?
                    .ok_or_else(|| {
                        PkiError::Invalid("the serial_number field is required".into())
                    })?;
                let serial = serial::parse(&text).map_err(PkiError::Invalid)?;
                let at = self.revoke(&store, &serial, false).await?;
                Ok(data(json!({
                    "revocation_time": at,
                    "revocation_time_rfc3339": rfc3339(at),
                    "state": "revoked",
                })))
            }
            // A root is its own chain.
            (Route::Ca(form) | Route::CaChain(form), Read) => {
                let ca = store.require_ca().await?;
                Ok(Some(answer_pem(
                    form,
                    &ca.certificate,
                    "CERTIFICATE",
                    CERT_TYPES,
                )))
            }
            (Route::Crl(form), Read) => {
                let der = self.current_crl(&store).await?;
                let pem = pem::encode("X509 CRL", &der);
                Ok(Some(answer_pem(form, &pem, "X509 CRL", CRL_TYPES)))
            }
            (Route::CrlRotate, Read) => {
                let ca = store.require_ca().await?;
                let _w = self.writes.lock().await;
                self.rebuild_crl(&store, &ca).await?;
                Ok(data(json!({ "success": true })))
            }
            (Route::Cert(text), Read) => self.read_cert(&store, text).await,
            (Route::Certs, List) => Ok(list(
                store
                    .cert_keys()
                    .await?
                    .into_iter()
                    .map(|k| k.replace('-', ":"))
                    .collect(),
            )),
            (Route::RevokedCerts, List) => Ok(list(
                store
                    .revoked_keys()
                    .await?
                    .into_iter()
                    .map(|k| k.replace('-', ":"))
                    .collect(),
            )),
            (Route::Tidy, Create | Update) => self.tidy(req).await,
            _ => Err(PkiError::UnsupportedOperation),
        }
    }

    async fn generate_root(&self, req: &Request, exported: bool) -> Answer {
        let d = &req.data;
        let common_name = fields::get_str(d, "common_name")
            .map_err(invalid)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PkiError::Invalid("the common_name field is required".into()))?;
        if common_name.len() > 256 || common_name.chars().any(char::is_control) {
            return Err(PkiError::Invalid("invalid common_name".into()));
        }
        let key_type = fields::get_str(d, "key_type")
            .map_err(invalid)?
            .unwrap_or_default();
        let key_bits = fields::get_u64(d, "key_bits")
            .map_err(invalid)?
            .unwrap_or(0);
        let spec = KeySpec::parse(&key_type, key_bits)?;
        let requested = fields::get_duration(d, "ttl").map_err(invalid)?;
        let max = match req.mount.max_lease_ttl {
            0 => FALLBACK_TTL,
            m => m,
        };
        let mut warnings = Vec::new();
        let ttl = match requested.filter(|t| *t > 0) {
            Some(t) if t > max => {
                warnings.push(format!(
                    "TTL {t}s is greater than the mount's max lease TTL {max}s; capping (tune the mount's max_lease_ttl for a longer-lived CA)"
                ));
                max
            }
            Some(t) => t,
            None => max,
        };
        let store = Store::new(&req.storage);
        let _w = self.writes.lock().await;
        if store.ca().await?.is_some() {
            return Err(PkiError::Invalid(
                "this mount already has a root CA; delete it first (DELETE root)".into(),
            ));
        }
        let key = generate_key(spec).await?;
        let now = self.now();
        let urls = store.urls().await?;
        let serial = serial::random();
        let not_after = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        let bundle = ca::build_root(
            &key,
            &common_name,
            serial.clone(),
            now - ROOT_BACKDATE,
            not_after,
            &urls,
        )?;
        store.save_ca(&bundle).await?;
        store
            .save_cert(
                &serial::storage_key(&serial),
                &CertEntry {
                    certificate: bundle.certificate.clone(),
                    not_after,
                },
            )
            .await?;
        self.rebuild_crl(&store, &bundle).await?;
        let mut out = json!({
            "certificate": bundle.certificate,
            "issuing_ca": bundle.certificate,
            "serial_number": serial::format(&serial),
            "expiration": not_after,
            "key_type": spec.type_name(),
            "key_bits": spec.bits(),
        });
        if exported {
            let pem = key.to_pem(KeyFormat::Native)?;
            out["private_key"] = json!(pem.as_str());
            out["private_key_type"] = json!(spec.type_name());
        }
        let mut resp = Response::json(out);
        resp.warnings = warnings;
        Ok(Some(resp))
    }

    async fn issue(&self, req: &Request, role_name: &str) -> Answer {
        check_role_name(role_name)?;
        let store = Store::new(&req.storage);
        let role = store
            .role(role_name)
            .await?
            .ok_or_else(|| PkiError::Invalid(format!("unknown role: {role_name}")))?;
        let ir = parse_request(&req.data, &role)?;
        let default = match req.mount.default_lease_ttl {
            0 => FALLBACK_TTL,
            t => t,
        };
        let (ttl, warning) = effective_ttl(
            ir.ttl,
            role.ttl,
            role.max_ttl,
            default,
            req.mount.max_lease_ttl,
        );
        let ca = store.require_ca().await?;
        let now = self.now();
        let not_after = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        if not_after > ca.not_after {
            return Err(PkiError::Invalid(format!(
                "cannot satisfy request, as TTL would result in notAfter {} that is beyond the expiration of the CA certificate at {}",
                rfc3339(not_after),
                rfc3339(ca.not_after)
            )));
        }
        let validity = Validity {
            not_before: now.saturating_sub(i64::try_from(role.not_before_duration).unwrap_or(0)),
            not_after,
        };
        let key = generate_key(role.key_spec()?).await?;
        let signer = ca::signer(&ca)?;
        let urls = store.urls().await?;
        let serial = serial::random();
        let cert_pem = build_leaf(&signer, &role, &ir, &key, &serial, validity, &urls)?;
        if !role.no_store {
            store
                .save_cert(
                    &serial::storage_key(&serial),
                    &CertEntry {
                        certificate: cert_pem.clone(),
                        not_after,
                    },
                )
                .await?;
        }
        let serial_text = serial::format(&serial);
        let key_pem = key.to_pem(ir.key_format)?;
        let mut out = Map::new();
        let (cert, issuing, key_text) = match ir.format {
            CertFormat::Pem => (
                cert_pem.clone(),
                ca.certificate.clone(),
                key_pem.to_string(),
            ),
            CertFormat::PemBundle => (
                format!("{}{}{}", key_pem.as_str(), cert_pem, ca.certificate),
                ca.certificate.clone(),
                key_pem.to_string(),
            ),
            CertFormat::Der => (
                pem_to_b64(&cert_pem, "CERTIFICATE"),
                pem_to_b64(&ca.certificate, "CERTIFICATE"),
                STANDARD.encode(&*key.to_der(ir.key_format)?),
            ),
        };
        out.insert("certificate".into(), json!(cert));
        out.insert("issuing_ca".into(), json!(issuing));
        out.insert("ca_chain".into(), json!([issuing]));
        out.insert("private_key".into(), json!(key_text));
        out.insert("private_key_type".into(), json!(key.spec.type_name()));
        out.insert("serial_number".into(), json!(serial_text));
        out.insert("expiration".into(), json!(not_after));
        let mut resp = Response::data(out);
        resp.warnings.extend(warning);
        if role.generate_lease {
            let mut internal = Map::new();
            internal.insert("serial_number".into(), json!(serial_text));
            resp.secret = Some(Box::new(Secret {
                ttl,
                renewable: false,
                internal,
                ..Secret::default()
            }));
        }
        Ok(Some(resp))
    }

    /// Revocation asked by the expiration manager for a lease of `issue`.
    async fn revoke_lease(&self, req: &Request) -> Answer {
        let text = req
            .secret
            .as_ref()
            .and_then(|s| s.internal.get("serial_number"))
            .and_then(Value::as_str)
            .ok_or_else(|| PkiError::Invalid("lease carries no serial_number".into()))?;
        let serial = serial::parse(text).map_err(PkiError::Invalid)?;
        let store = Store::new(&req.storage);
        // With the CA deleted there is no CRL to list the certificate in: nothing to do, and
        // failing would leave the lease irrevocable.
        if store.ca().await?.is_none() {
            return Ok(None);
        }
        self.revoke(&store, &serial, true).await?;
        Ok(None)
    }

    /// Revokes `serial` and rebuilds the CRL; the revocation time (the earlier one if it was
    /// already revoked). A serial that was never stored is refused unless `unstored_ok` (a
    /// lease of a `no_store` role).
    async fn revoke(
        &self,
        store: &Store<'_>,
        serial: &[u8],
        unstored_ok: bool,
    ) -> Result<i64, PkiError> {
        let ca = store.require_ca().await?;
        if serial == ca.serial.as_slice() {
            return Err(PkiError::Invalid(
                "adding the CA to its own CRL is not allowed".into(),
            ));
        }
        let key = serial::storage_key(serial);
        let _w = self.writes.lock().await;
        if let Some(r) = store.revoked(&key).await? {
            return Ok(r.revocation_time);
        }
        let not_after = match store.cert(&key).await? {
            Some(c) => c.not_after,
            None if unstored_ok => 0,
            None => {
                return Err(PkiError::Invalid(format!(
                    "certificate with serial {} not found",
                    serial::format(serial)
                )));
            }
        };
        let now = self.now();
        store
            .save_revoked(
                &key,
                &Revoked {
                    revocation_time: now,
                    not_after,
                },
            )
            .await?;
        self.rebuild_crl(store, &ca).await?;
        Ok(now)
    }

    /// Signs a new CRL of every revoked serial (none when CRLs are disabled) and stores it
    /// (caller holds `writes`).
    async fn rebuild_crl(&self, store: &Store<'_>, ca: &CaBundle) -> Result<Vec<u8>, PkiError> {
        let config = store.crl_config().await?;
        let mut revoked = Vec::new();
        let keys = if config.disable {
            Vec::new()
        } else {
            store.revoked_keys().await?
        };
        for key in keys {
            let Ok(serial) = serial::parse(&key) else {
                continue;
            };
            if let Some(r) = store.revoked(&key).await? {
                revoked.push((serial, r.revocation_time));
            }
        }
        let number = store.crl().await?.map_or(1, |c| c.number.saturating_add(1));
        let now = self.now();
        let der = crl::build(&ca::signer(ca)?, number, now, config.expiry, &revoked)?;
        store
            .save_crl(&StoredCrl {
                number,
                next_update: now.saturating_add(i64::try_from(config.expiry).unwrap_or(i64::MAX)),
                der: STANDARD.encode(&der),
            })
            .await?;
        Ok(der)
    }

    /// The stored CRL, rebuilt when missing or past its `nextUpdate`.
    async fn current_crl(&self, store: &Store<'_>) -> Result<Vec<u8>, PkiError> {
        let ca = store.require_ca().await?;
        if let Some(c) = store.crl().await?
            && c.next_update > self.now()
            && let Ok(der) = STANDARD.decode(&c.der)
        {
            return Ok(der);
        }
        let _w = self.writes.lock().await;
        self.rebuild_crl(store, &ca).await
    }

    async fn read_cert(&self, store: &Store<'_>, text: &str) -> Answer {
        let serial = serial::parse(text).map_err(PkiError::Invalid)?;
        let key = serial::storage_key(&serial);
        let Some(cert) = store.cert(&key).await? else {
            return Ok(None);
        };
        let revoked = store.revoked(&key).await?;
        let at = revoked.map_or(0, |r| r.revocation_time);
        let mut out = json!({
            "certificate": cert.certificate,
            "revocation_time": at,
        });
        if at > 0 {
            out["revocation_time_rfc3339"] = json!(rfc3339(at));
        }
        Ok(data(out))
    }

    /// Removes certificates (and revocations) that expired more than `safety_buffer` ago,
    /// then rebuilds the CRL. Runs to completion before answering.
    async fn tidy(&self, req: &Request) -> Answer {
        let d = &req.data;
        let certs = fields::get_bool(d, "tidy_cert_store")
            .map_err(invalid)?
            .unwrap_or(false);
        let revoked = fields::get_bool(d, "tidy_revoked_certs")
            .map_err(invalid)?
            .unwrap_or(false);
        let buffer = fields::get_duration(d, "safety_buffer")
            .map_err(invalid)?
            .unwrap_or(72 * 3600);
        let nothing_asked = !certs && !revoked;
        let store = Store::new(&req.storage);
        let ca = store.ca().await?;
        let cutoff = self
            .now()
            .saturating_sub(i64::try_from(buffer).unwrap_or(i64::MAX));
        let _w = self.writes.lock().await;
        let mut removed = 0u64;
        if revoked {
            for key in store.revoked_keys().await? {
                if let Some(r) = store.revoked(&key).await?
                    && r.not_after != 0
                    && r.not_after < cutoff
                {
                    store.delete_revoked(&key).await?;
                    store.delete_cert(&key).await?;
                    removed += 1;
                }
            }
        }
        if certs {
            let ca_key = ca.as_ref().map(|c| serial::storage_key(&c.serial));
            for key in store.cert_keys().await? {
                if Some(&key) == ca_key.as_ref() {
                    continue;
                }
                if let Some(c) = store.cert(&key).await?
                    && c.not_after < cutoff
                    && store.revoked(&key).await?.is_none()
                {
                    store.delete_cert(&key).await?;
                    removed += 1;
                }
            }
        }
        if let Some(ca) = ca {
            self.rebuild_crl(&store, &ca).await?;
        }
        let mut resp = Response::json(json!({ "removed": removed }));
        resp.status = ResponseStatus::Accepted;
        resp.warnings.push(if nothing_asked {
            "Nothing tidied: set tidy_cert_store and/or tidy_revoked_certs.".into()
        } else {
            "Tidy operation completed; see \"removed\" for the number of entries removed.".into()
        });
        Ok(Some(resp))
    }
}

/// Content types of a bare certificate answer: DER, PEM.
const CERT_TYPES: (&str, &str) = ("application/pkix-cert", "application/pem-certificate-chain");
/// Content types of a bare CRL answer: DER, PEM.
const CRL_TYPES: (&str, &str) = ("application/pkix-crl", "application/x-pem-file");

/// The PEM `pem` (block `label`) answered in `form`: JSON with `certificate`, or a bare body
/// (the http layer turns `http_content_type`/`http_raw_body` into the response itself).
fn answer_pem(form: route::Form, pem: &str, label: &str, types: (&str, &str)) -> Response {
    let raw = |content_type: &str, bytes: &[u8]| {
        Response::json(json!({
            "http_content_type": content_type,
            "http_raw_body": STANDARD.encode(bytes),
            "http_status_code": 200,
        }))
    };
    match form {
        route::Form::Json => Response::json(json!({ "certificate": pem, "revocation_time": 0 })),
        route::Form::Pem => raw(types.1, pem.as_bytes()),
        route::Form::Der => raw(types.0, &pem::decode(label, pem).unwrap_or_default()),
    }
}

fn check_role_name(name: &str) -> Result<(), PkiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(PkiError::Invalid(format!(
            "invalid role name {:?}: use letters, digits, '-', '_' and '.'",
            name.chars().take(64).collect::<String>()
        )))
    }
}

/// Base64 DER of the PEM block `label` in `text` (empty when absent).
fn pem_to_b64(text: &str, label: &str) -> String {
    pem::decode(label, text).map_or_else(String::new, |der| STANDARD.encode(der))
}
