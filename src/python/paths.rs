//! What a Python file's path alone tells: whether it is an installed package, the standard
//! library or the program's own code, its module's dotted name, and which script a command
//! line runs. The one place these questions are answered: the advice sorts time by
//! [`origin`], the recorder and the importers name modules with [`module_name`], and both give
//! the same answer for the same path.

use std::path::{Path, PathBuf};

/// Where a Python source file comes from, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOrigin {
    /// An installed package: under `site-packages` or `dist-packages`.
    Installed,
    /// CPython's own library (`.../lib/python3.11/json/encoder.py`), or code with no file
    /// (`<frozen importlib._bootstrap>`, `<string>`).
    Stdlib,
    /// Anything else: the program's own code.
    Program,
}

const PACKAGE_FOLDERS: [&str; 2] = ["/site-packages/", "/dist-packages/"];

/// Where `file` comes from. A package installed inside the standard library's folder
/// (`lib/python3.11/site-packages/`) is installed, not standard.
pub fn origin(file: &str) -> PathOrigin {
    if package_relative(file).is_some() {
        PathOrigin::Installed
    } else if file.starts_with('<') || stdlib_relative(file).is_some() {
        PathOrigin::Stdlib
    } else {
        PathOrigin::Program
    }
}

/// The path under the package folder (`site-packages` before `dist-packages`), the last one
/// when several are nested.
fn package_relative(file: &str) -> Option<&str> {
    PACKAGE_FOLDERS
        .iter()
        .find_map(|marker| file.rfind(marker).map(|i| &file[i + marker.len()..]))
}

/// The path under the standard library's folder: the last `lib/pythonX.Y/` (or `lib64/`) in
/// `file`, where `X.Y` is a version (`python3.11`, `python3.13t`, `python2.7`).
fn stdlib_relative(file: &str) -> Option<&str> {
    let parts: Vec<&str> = file.split('/').collect();
    let at = (1..parts.len().saturating_sub(1)).rev().find(|&i| {
        matches!(parts[i - 1], "lib" | "lib64")
            && parts[i]
                .strip_prefix("python")
                .is_some_and(|v| v.starts_with(['2', '3']) && v.contains('.'))
    })?;
    let offset: usize = parts[..=at].iter().map(|p| p.len() + 1).sum();
    Some(&file[offset..])
}

/// The dotted module name of a Python source file: from `site-packages` or the standard
/// library folder when it lives there, otherwise relative to the first root that holds it.
pub fn module_name(file: &Path, roots: &[PathBuf]) -> String {
    let text = file.to_string_lossy();
    // Frozen standard modules (`<frozen importlib._bootstrap>`) name themselves.
    if let Some(name) = text
        .rsplit('/')
        .next()
        .and_then(|t| t.strip_prefix("<frozen "))
        .and_then(|t| t.strip_suffix('>'))
    {
        return name.to_owned();
    }
    let rel = package_relative(&text)
        .or_else(|| stdlib_relative(&text))
        .map(str::to_owned);
    let rel = rel.unwrap_or_else(|| {
        roots
            .iter()
            .find_map(|r| file.strip_prefix(r).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    });
    let rel = rel
        .strip_suffix(".py")
        .or_else(|| rel.strip_suffix(".pyx"))
        .unwrap_or(&rel);
    let rel = rel.strip_suffix("/__init__").unwrap_or(rel);
    rel.trim_start_matches('/').replace('/', ".")
}

/// The script in a `python [options] script.py args` command line, if there is one.
pub fn script_path(argv: &[String]) -> Option<&str> {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-m" | "-c" => return None,
            "-W" | "-X" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_paths_are_recognised() {
        let stdlib = |f: &str| origin(f) == PathOrigin::Stdlib;
        assert!(stdlib(
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/encoder.py"
        ));
        assert!(stdlib("/usr/lib/python3.11/re/__init__.py"));
        assert!(stdlib("/usr/lib64/python3.13t/heapq.py"));
        assert!(stdlib("<frozen importlib._bootstrap>"));
        assert!(!stdlib("/home/me/python3.11-tools/app.py"));
        assert!(!stdlib("/home/me/app.py"));
        assert!(!stdlib("/home/me/lib/pythonic/app.py"));
        assert_eq!(
            origin("/usr/lib/python3.11/site-packages/yaml/scanner.py"),
            PathOrigin::Installed
        );
        assert_eq!(
            origin("/usr/lib/python3/dist-packages/yaml/scanner.py"),
            PathOrigin::Installed
        );
    }

    #[test]
    fn the_module_name_and_the_origin_agree_on_the_standard_library() {
        let roots = vec![PathBuf::from("/home/me")];
        let m = |p: &str| module_name(Path::new(p), &roots);
        // Not the standard library, so named from the root that holds it.
        assert_eq!(m("/home/me/lib/pythonic/app.py"), "lib.pythonic.app");
        assert_eq!(m("/usr/lib64/python3.12/json/decoder.py"), "json.decoder");
    }

    #[test]
    fn module_names_follow_python_import_rules() {
        let roots = vec![PathBuf::from("/home/u/proj")];
        let m = |p: &str| module_name(Path::new(p), &roots);
        assert_eq!(m("/usr/lib/python3.11/json/encoder.py"), "json.encoder");
        assert_eq!(
            m("/root/.pyenv/versions/3.11.7/lib/python3.11/re/__init__.py"),
            "re"
        );
        assert_eq!(
            m("/v/lib/python3.12/site-packages/numpy/core/fromnumeric.py"),
            "numpy.core.fromnumeric"
        );
        assert_eq!(m("/home/u/proj/pkg/mod.py"), "pkg.mod");
        assert_eq!(m("/elsewhere/tool.py"), "tool");
        assert_eq!(
            m("/home/u/proj/<frozen importlib._bootstrap>"),
            "importlib._bootstrap"
        );
    }
}
