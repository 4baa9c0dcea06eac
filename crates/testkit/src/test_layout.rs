//! A check of the workspace's test layout. A crate whose `tests/main.rs` gathers its
//! integration tests into one binary (`autotests = false`) compiles only the files that
//! `main.rs` declares: a new file beside it that is not declared would never run. The test
//! below fails on any such file.

use std::collections::BTreeSet;
use std::path::Path;

/// The module names a `tests/main.rs` declares with `mod name;` (attributes and visibility
/// allowed in front, inline `mod name { .. }` blocks ignored).
pub fn declared_modules(main_rs: &str) -> BTreeSet<String> {
    main_rs
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub ").unwrap_or(line);
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?.trim();
            let ident =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            ident.then(|| name.to_owned())
        })
        .collect()
}

/// The `.rs` files (without the extension) and module directories (with a `mod.rs`) in a
/// `tests/` directory that `main.rs` does not declare.
pub fn undeclared(tests_dir: &Path) -> std::io::Result<Vec<String>> {
    let main = std::fs::read_to_string(tests_dir.join("main.rs"))?;
    let declared = declared_modules(&main);
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(tests_dir)? {
        let path = entry?.path();
        let name = if path.is_dir() {
            if !path.join("mod.rs").is_file() {
                continue; // fixtures and other data
            }
            path.file_name()
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.file_stem()
        } else {
            continue;
        };
        let Some(name) = name.and_then(|n| n.to_str()) else {
            continue;
        };
        if name != "main" && !declared.contains(name) {
            missing.push(name.to_owned());
        }
    }
    missing.sort();
    Ok(missing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn declared_modules_reads_mod_lines_only() {
        let main =
            "//! docs\nmod common;\npub mod b;\n#[cfg(x)]\nmod c;\nmod d {\n}\nuse crate::e;\n";
        let got: Vec<_> = declared_modules(main).into_iter().collect();
        assert_eq!(got, ["b", "c", "common"]);
    }

    #[test]
    fn undeclared_finds_a_file_and_a_module_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.rs"), "mod a;\n").unwrap();
        std::fs::write(dir.path().join("a.rs"), "").unwrap();
        std::fs::write(dir.path().join("b.rs"), "").unwrap();
        std::fs::create_dir(dir.path().join("common")).unwrap();
        std::fs::write(dir.path().join("common/mod.rs"), "").unwrap();
        std::fs::create_dir(dir.path().join("fixtures")).unwrap();
        assert_eq!(undeclared(dir.path()).unwrap(), ["b", "common"]);
    }

    /// Every crate of the workspace with a `tests/main.rs` declares every test file beside it.
    #[test]
    fn every_workspace_test_file_is_compiled() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut checked = 0;
        let mut problems = Vec::new();
        for entry in std::fs::read_dir(crates).unwrap() {
            let tests = entry.unwrap().path().join("tests");
            if !tests.join("main.rs").is_file() {
                continue;
            }
            checked += 1;
            for name in undeclared(&tests).unwrap() {
                problems.push(format!("{}/{name}", tests.display()));
            }
        }
        assert!(
            checked > 0,
            "no crate under {} has tests/main.rs",
            crates.display()
        );
        assert!(
            problems.is_empty(),
            "test files not declared in their tests/main.rs (never compiled): {problems:?}"
        );
    }
}
