//! Reading the program's source files, safely and once. A profile names files, and a program
//! may name its code anything (`compile(src, "/dev/zero", "exec")`): a file is read only when
//! its real path lies under one of the folders the caller allows (the profile's, from
//! [`crate::trust::source_roots`]) and the open file is a regular file of at most
//! [`MAX_SOURCE_BYTES`].
//!
//! [`SourceCache`] is how every stage reads sources: the advice, the page and the stub each
//! keep one, so a file is read and parsed once however many of its functions they look at.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::parser::{parse_source, PyFunction, PyModuleInfo, SyntaxError};

/// The largest source file read.
pub const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Reads `path` when it is a regular file of bounded size under one of `roots`.
pub fn read_under(roots: &[PathBuf], path: &Path) -> Option<String> {
    let real = allowed(roots, path)?;
    let file = std::fs::File::open(&real).ok()?;
    // Checked on the open file: the path may have been swapped for a device since.
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_SOURCE_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The real path of `path` when it lies under one of `roots` (symbolic links resolved).
pub fn allowed(roots: &[PathBuf], path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    roots.iter().any(|r| real.starts_with(r)).then_some(real)
}

/// One source file as read: its text, and its functions once asked for.
#[derive(Debug)]
pub struct SourceFile {
    text: String,
    parsed: OnceCell<Result<PyModuleInfo, SyntaxError>>,
}

impl SourceFile {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file parsed by the Python parser, the first time it is asked for.
    pub fn parsed(&self) -> Result<&PyModuleInfo, &SyntaxError> {
        self.parsed
            .get_or_init(|| parse_source(&self.text))
            .as_ref()
    }

    /// The function `qualname` (the one holding `line` when it is defined twice), when the file
    /// parses.
    pub fn function(&self, qualname: &str, line: Option<u32>) -> Option<&PyFunction> {
        self.parsed().ok()?.find(qualname, line)
    }
}

/// The source files read so far, by path; each read at most once, only under `roots`.
#[derive(Debug, Default)]
pub struct SourceCache {
    roots: Vec<PathBuf>,
    files: RefCell<HashMap<PathBuf, Option<Rc<SourceFile>>>>,
}

impl SourceCache {
    /// A cache reading only under `roots` (none: it reads nothing).
    pub fn new(roots: Vec<PathBuf>) -> SourceCache {
        SourceCache {
            roots,
            files: RefCell::default(),
        }
    }

    /// The folders files are read from.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The file at `path`, when it may be read (see [`read_under`]).
    pub fn file(&self, path: &Path) -> Option<Rc<SourceFile>> {
        self.files
            .borrow_mut()
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                read_under(&self.roots, path).map(|text| {
                    Rc::new(SourceFile {
                        text,
                        parsed: OnceCell::new(),
                    })
                })
            })
            .clone()
    }

    /// The function `qualname` of the file at `path`, when the file may be read and parses.
    pub fn function(&self, path: &Path, qualname: &str, line: Option<u32>) -> Option<PyFunction> {
        self.file(path)?.function(qualname, line).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_only_as_bounded_regular_files_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("app.py"), "def f():\n    pass\n").unwrap();
        let outside = dir.path().join("secret.py");
        std::fs::write(&outside, "token = 1\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link.py")).unwrap();
        std::fs::write(
            root.join("big.py"),
            vec![b'#'; MAX_SOURCE_BYTES as usize + 1],
        )
        .unwrap();
        let roots = vec![root.canonicalize().unwrap()];
        assert!(read_under(&roots, &root.join("app.py")).is_some());
        assert_eq!(read_under(&roots, &outside), None);
        assert_eq!(read_under(&roots, &root.join("link.py")), None);
        assert_eq!(read_under(&roots, &root.join("big.py")), None);
        assert_eq!(read_under(&roots, Path::new("/proc/self/environ")), None);
        assert_eq!(
            read_under(&[PathBuf::from("/")], Path::new("/dev/zero")),
            None
        );
        assert_eq!(read_under(&[], &root.join("app.py")), None);
    }

    #[test]
    fn a_file_is_read_once_and_parsed_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let app = root.join("app.py");
        std::fs::write(&app, "def f(x):\n    return x + 1\n").unwrap();
        let cache = SourceCache::new(vec![root.clone()]);
        let first = cache.file(&app).unwrap();
        std::fs::write(&app, "def g():\n    pass\n").unwrap();
        assert!(Rc::ptr_eq(&first, &cache.file(&app).unwrap()));
        assert_eq!(cache.function(&app, "f", None).unwrap().first_line, 1);
        assert!(cache.function(&app, "g", None).is_none());

        let broken = root.join("broken.py");
        std::fs::write(&broken, "print 'python 2'\n").unwrap();
        assert!(cache.file(&broken).unwrap().parsed().is_err());
        assert!(SourceCache::new(Vec::new()).file(&app).is_none());
    }
}
