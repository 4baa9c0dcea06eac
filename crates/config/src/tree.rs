//! A syntax-neutral tree that both HCL and JSON configuration text become.
//!
//! A block `listener "tcp" { address = "..." }` becomes the entry
//! `("listener", Map[("tcp", Map[("address", Str)])])`, which is also exactly what Vault's JSON
//! form `{"listener": {"tcp": {"address": "..."}}}` yields. Maps keep their entries in order
//! and may repeat keys (HCL repeats a block's identifier for every occurrence).

/// One value of a configuration tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string (templates keep their literal text).
    Str(String),
    /// An array.
    List(Vec<Node>),
    /// An object or block body, entries in source order, keys possibly repeated.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A short name of the value's kind for error messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a block or object",
        }
    }
}

/// Joins a dotted key path.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The warning added for a string that still contains template syntax.
pub(crate) fn template_warning(file: &str, key: &str, text: &str) -> Option<String> {
    (text.contains("${") || text.contains("%{")).then(|| {
        format!(
            "{file}: {key} = {text:?} looks like an unrendered template; the literal text is used"
        )
    })
}
