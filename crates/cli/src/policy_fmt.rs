//! `policy fmt`: canonical formatting of an HCL policy, done locally.

use hcl::format::{Format as _, Formatter};
use tresor_sdk::nesting::{Syntax, check_depth};

/// How deeply a policy may nest before it is refused unparsed (the server's bound,
/// `tresor_policy::MAX_POLICY_DEPTH`): the HCL parser recurses per level.
const MAX_DEPTH: usize = 100;

/// Parses `text` as HCL and prints it back in canonical form.
pub(crate) fn format(text: &str) -> Result<String, String> {
    check_depth(text, Syntax::Hcl, MAX_DEPTH)
        .map_err(|e| format!("failed to parse policy: {e}"))?;
    let body = hcl::parse(text).map_err(|e| format!("failed to parse policy: {e}"))?;
    let mut fmt = Formatter::builder().compact_arrays(true).build_vec();
    let mut out = body.format_string(&mut fmt).map_err(|e| e.to_string())?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_rejects() {
        let messy = "path \"secret/*\" {\ncapabilities=[\"read\",\"list\"]\n}\n";
        let out = format(messy).unwrap();
        assert!(out.contains("path \"secret/*\" {"));
        assert!(
            out.contains("  capabilities = [\"read\", \"list\"]"),
            "{out}"
        );
        assert_eq!(format(&out).unwrap(), out);
        assert!(format("path \"x\" {").is_err());
        let deep = format!("x = {}", "[".repeat(100_000));
        assert!(format(&deep).unwrap_err().contains("maximum depth"));
    }
}
