//! `policy fmt`: canonical formatting of an HCL policy, done locally.

use hcl::format::{Format as _, Formatter};

/// Parses `text` as HCL and prints it back in canonical form.
pub(crate) fn format(text: &str) -> Result<String, String> {
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
    }
}
