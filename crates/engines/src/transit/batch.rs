//! Request items and batches: the fields each encrypt/decrypt/rewrap item carries, and how a
//! batch's per-item outcomes become one response.
//!
//! A request either carries one item in its top-level fields or a `batch_input` array of item
//! objects; a failed batch item reports `error` in its slot of `batch_results` instead of
//! failing the request. Any failed item makes the status 400 (500 for internal failures);
//! `partial_failure_response_code` replaces it when at least one item succeeded.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Response, ResponseStatus, fields};
use zeroize::Zeroizing;

/// The most items one `batch_input` may carry; the request body limit bounds the bytes, this
/// bounds the work (an RSA signature per item adds up).
pub(crate) const MAX_BATCH_ITEMS: usize = 10_000;

/// The outcome of one item: its `reference` (echoed back) and its result fields or error.
pub(crate) type ItemOutcome = (Option<Value>, Result<Map<String, Value>, LogicalError>);

/// The items of a request: `batch_input` if present, else the request's own fields as the
/// single item. The flag says whether this is a batch.
pub(crate) fn items(
    data: &Map<String, Value>,
) -> Result<(Vec<Map<String, Value>>, bool), LogicalError> {
    match data.get("batch_input") {
        None | Some(Value::Null) => Ok((vec![data.clone()], false)),
        Some(Value::Array(list)) => {
            if list.is_empty() {
                return Err(LogicalError::invalid("missing batch input to process"));
            }
            if list.len() > MAX_BATCH_ITEMS {
                return Err(LogicalError::invalid(format!(
                    "batch_input has {} items; at most {MAX_BATCH_ITEMS} are allowed per request",
                    list.len()
                )));
            }
            let items = list
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(LogicalError::invalid(
                        "error parsing field \"batch_input\": expected a list of objects",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((items, true))
        }
        Some(_) => Err(LogicalError::invalid(
            "error parsing field \"batch_input\": expected a list of objects",
        )),
    }
}

/// A required base64 field, decoded into a wiped buffer. `Ok(None)` when absent.
pub(crate) fn b64_field(
    item: &Map<String, Value>,
    field: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, LogicalError> {
    let Some(text) = fields::get_str(item, field)? else {
        return Ok(None);
    };
    let text = Zeroizing::new(text);
    let mut out = Zeroizing::new(Vec::new());
    STANDARD
        .decode_vec(text.as_bytes(), &mut out)
        .map_err(|_| LogicalError::invalid(format!("failed to base64-decode {field}")))?;
    Ok(Some(out))
}

/// The associated data of an item (`associated_data`, base64; empty when absent).
pub(crate) fn associated_data(
    item: &Map<String, Value>,
) -> Result<Zeroizing<Vec<u8>>, LogicalError> {
    Ok(b64_field(item, "associated_data")?.unwrap_or_default())
}

/// Refuses a caller-chosen `nonce`: convergent keys derive theirs from the plaintext and
/// context, and other keys draw a random one.
pub(crate) fn refuse_nonce(item: &Map<String, Value>) -> Result<(), LogicalError> {
    match fields::get_str(item, "nonce")? {
        Some(n) if !n.is_empty() => Err(LogicalError::invalid(
            "a nonce may not be given: convergent keys derive it from the plaintext and context",
        )),
        _ => Ok(()),
    }
}

/// The key derivation `context` of an item (base64), if any; ignored by non-derived keys.
pub(crate) fn context(
    item: &Map<String, Value>,
) -> Result<Option<Zeroizing<Vec<u8>>>, LogicalError> {
    b64_field(item, "context")
}

/// An optional key version field (`key_version`).
pub(crate) fn key_version(item: &Map<String, Value>) -> Result<Option<u64>, LogicalError> {
    fields::get_u64(item, "key_version")
}

/// Turns the outcomes into the response: for a single item its fields (or its error); for a
/// batch the `batch_results` array with the status rules described in the module docs.
pub(crate) fn respond(
    outcomes: Vec<ItemOutcome>,
    batch: bool,
    data: &Map<String, Value>,
) -> Result<Option<Response>, LogicalError> {
    if !batch {
        let (_, result) = outcomes
            .into_iter()
            .next()
            .ok_or_else(|| LogicalError::Internal("no item to answer".to_owned()))?;
        return result.map(|m| Some(Response::data(m)));
    }
    let (mut user_error, mut internal_error, mut success) = (false, false, false);
    let mut results = Vec::with_capacity(outcomes.len());
    for (reference, result) in outcomes {
        let mut slot = match result {
            Ok(m) => {
                success = true;
                m
            }
            Err(e) => {
                match e {
                    LogicalError::InvalidRequest(_) => user_error = true,
                    _ => internal_error = true,
                }
                let mut m = Map::new();
                m.insert("error".to_owned(), json!(e.to_string()));
                m
            }
        };
        if let Some(r) = reference {
            slot.insert("reference".to_owned(), r);
        }
        results.push(Value::Object(slot));
    }
    let mut resp = Response::json(json!({ "batch_results": results }));
    let mut code = if user_error {
        ResponseStatus::InvalidRequest
    } else if internal_error {
        ResponseStatus::Internal
    } else {
        ResponseStatus::Ok
    };
    if code != ResponseStatus::Ok
        && success
        && let Some(partial) = fields::get_i64(data, "partial_failure_response_code")?
    {
        match u16::try_from(partial) {
            Ok(c) if (1..=599).contains(&c) => code = ResponseStatus::ClientChosen(c),
            _ => resp.warnings.push(format!(
                "partial_failure_response_code {partial} is not a valid HTTP status; ignored"
            )),
        }
    }
    resp.status = code;
    Ok(Some(resp))
}

/// The `reference` of an item, echoed back in its result.
pub(crate) fn reference(item: &Map<String, Value>) -> Option<Value> {
    item.get("reference").filter(|v| !v.is_null()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn single_or_batch_items() {
        let (items1, batch) = items(&obj(json!({"plaintext": "aGk="}))).unwrap();
        assert!(!batch);
        assert_eq!(items1[0]["plaintext"], "aGk=");
        let (items2, batch) = items(&obj(
            json!({"batch_input": [{"plaintext": "YQ=="}, {"plaintext": "Yg=="}]}),
        ))
        .unwrap();
        assert!(batch);
        assert_eq!(items2.len(), 2);
        assert!(items(&obj(json!({"batch_input": []}))).is_err());
        assert!(items(&obj(json!({"batch_input": ["x"]}))).is_err());
        assert!(items(&obj(json!({"batch_input": "x"}))).is_err());
        let many: Vec<Value> = (0..=MAX_BATCH_ITEMS).map(|_| json!({})).collect();
        let err = items(&obj(json!({ "batch_input": many }))).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn base64_fields() {
        let m = obj(json!({"plaintext": "aGVsbG8=", "bad": "%%%", "empty": ""}));
        assert_eq!(
            b64_field(&m, "plaintext").unwrap().unwrap().as_slice(),
            b"hello"
        );
        assert!(b64_field(&m, "missing").unwrap().is_none());
        assert!(b64_field(&m, "empty").unwrap().unwrap().is_empty());
        let err = b64_field(&m, "bad").unwrap_err().to_string();
        assert!(err.contains("base64"), "{err}");
        assert!(refuse_nonce(&obj(json!({"nonce": "AAAA"}))).is_err());
        assert!(refuse_nonce(&obj(json!({"nonce": ""}))).is_ok());
    }

    #[test]
    fn single_item_passes_result_through() {
        let ok = respond(vec![(None, Ok(obj(json!({"a": 1}))))], false, &Map::new())
            .unwrap()
            .unwrap();
        assert_eq!(ok.data.unwrap()["a"], 1);
        assert!(
            respond(
                vec![(None, Err(LogicalError::invalid("no")))],
                false,
                &Map::new()
            )
            .is_err()
        );
    }

    #[test]
    fn batch_status_rules() {
        let all_ok = respond(
            vec![(Some(json!("r1")), Ok(obj(json!({"x": 1}))))],
            true,
            &Map::new(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(all_ok.status, ResponseStatus::Ok);
        assert_eq!(
            all_ok.data.unwrap()["batch_results"],
            json!([{"x": 1, "reference": "r1"}])
        );

        let mixed = || {
            vec![
                (None, Ok(obj(json!({"x": 1})))),
                (Some(json!("b")), Err(LogicalError::invalid("bad item"))),
            ]
        };
        let r = respond(mixed(), true, &Map::new()).unwrap().unwrap();
        assert_eq!(r.status, ResponseStatus::InvalidRequest);
        assert_eq!(
            r.data.unwrap()["batch_results"][1],
            json!({"error": "bad item", "reference": "b"})
        );
        let partial = obj(json!({"partial_failure_response_code": 207}));
        assert_eq!(
            respond(mixed(), true, &partial).unwrap().unwrap().status,
            ResponseStatus::ClientChosen(207)
        );
        let silly = obj(json!({"partial_failure_response_code": 900}));
        let r = respond(mixed(), true, &silly).unwrap().unwrap();
        assert_eq!(r.status, ResponseStatus::InvalidRequest);
        assert_eq!(r.warnings.len(), 1);
        // All failed: the partial code does not apply.
        let all_bad = vec![(None, Err(LogicalError::invalid("x")))];
        assert_eq!(
            respond(all_bad, true, &partial).unwrap().unwrap().status,
            ResponseStatus::InvalidRequest
        );
        let internal = vec![(None, Err(LogicalError::Internal("boom".into())))];
        assert_eq!(
            respond(internal, true, &Map::new())
                .unwrap()
                .unwrap()
                .status,
            ResponseStatus::Internal
        );
    }
}
