//! How ready a function is to be ported: the tests that would catch a wrong port, how settled
//! its code is in version control, and the constructs in it that a port cannot simply
//! translate.
//!
//! These are signals for a human, not scores: this module reports what it finds and leaves the
//! weighing to the scoring stage. It reads the project's files and runs `git`, bounded in files,
//! bytes and time so that a large repository cannot stall a report; it never writes.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::python::parser::{parse_source, Import, PyFunction};

/// What speaks for and against porting one function now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Readiness {
    /// Test lines that refer to the function: the safety net for a port.
    pub tests: Vec<TestRef>,
    /// The function's change history; `None` outside a git work tree.
    pub history: Option<History>,
    pub blockers: Vec<Blocker>,
}

/// A line of a test file that refers to the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRef {
    pub file: PathBuf,
    pub line: u32,
}

/// The commits that changed a function's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    pub commits: u32,
    /// Author date of the newest such commit, `YYYY-MM-DD`.
    pub last_change: Option<String>,
    pub days_since_change: Option<u32>,
    /// Distinct author e-mail addresses.
    pub authors: u32,
}

/// A construct that makes a function harder to port, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub kind: BlockerKind,
    pub line: u32,
    /// What was found, with the source line when there is one.
    pub detail: String,
}

/// The kinds of [`Blocker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    EvalExec,
    Callback,
    Generator,
    Coroutine,
    DynamicAttributes,
    GlobalState,
}

impl BlockerKind {
    /// Why this construct makes a port harder, for reports.
    pub fn reason(&self) -> &'static str {
        match self {
            BlockerKind::EvalExec => {
                "runs Python source built at run time; compiled code cannot, so that part \
                 must keep calling the interpreter"
            }
            BlockerKind::Callback => {
                "calls a function its caller passed in; every call goes back into the \
                 interpreter, so a Rust loop around it still runs at Python speed"
            }
            BlockerKind::Generator => {
                "is a generator; PyO3 has no generator functions, so its paused state has to \
                 become an iterator class with `__next__`, and callers may rely on laziness"
            }
            BlockerKind::Coroutine => {
                "is a coroutine; a port needs a bridge between Rust futures and the asyncio \
                 event loop, and what it awaits stays Python"
            }
            BlockerKind::DynamicAttributes => {
                "looks attributes or variables up by name at run time; Rust types have fixed \
                 fields, so this stays a Python attribute access on every call"
            }
            BlockerKind::GlobalState => {
                "rebinds module-level or enclosing variables; a port must reach them through \
                 the Python module object or move that state into Rust with its readers"
            }
        }
    }
}

/// The constructs in `f` that a port cannot translate directly, in line order.
pub fn blockers(f: &PyFunction) -> Vec<Blocker> {
    let code = |line: u32| -> String {
        line.checked_sub(f.decorator_line)
            .and_then(|i| f.source.lines().nth(i as usize))
            .map(|l| l.trim().chars().take(120).collect())
            .unwrap_or_default()
    };
    let with_code = |what: String, line: u32| -> String {
        match code(line) {
            c if c.is_empty() => what,
            c => format!("{what}: `{c}`"),
        }
    };
    let features = &f.features;
    let mut out = Vec::new();
    for &line in &features.eval_exec {
        out.push(Blocker {
            kind: BlockerKind::EvalExec,
            line,
            detail: with_code("eval/exec/compile".into(), line),
        });
    }
    for (line, name) in &features.callbacks {
        out.push(Blocker {
            kind: BlockerKind::Callback,
            line: *line,
            detail: with_code(format!("calls parameter `{name}`"), *line),
        });
    }
    if f.is_generator {
        out.push(Blocker {
            kind: BlockerKind::Generator,
            line: f.first_line,
            detail: format!("{} yield expression(s)", features.yields),
        });
    }
    // An `async def` that awaits nothing runs to completion when awaited: a plain function
    // once made a `def`, which the advice says; no bridge to the event loop is needed.
    if f.is_async && features.awaits > 0 {
        out.push(Blocker {
            kind: BlockerKind::Coroutine,
            line: f.first_line,
            detail: format!("async def with {} await point(s)", features.awaits),
        });
    }
    for &line in &features.dynamic_attrs {
        out.push(Blocker {
            kind: BlockerKind::DynamicAttributes,
            line,
            detail: with_code("attribute access by name".into(), line),
        });
    }
    for (line, names) in &features.globals {
        out.push(Blocker {
            kind: BlockerKind::GlobalState,
            line: *line,
            detail: with_code(format!("rebinds {}", names.join(", ")), *line),
        });
    }
    out.sort_by_key(|b| b.line);
    out
}

/// Test files read at most, so that a huge tree stays quick.
const MAX_TEST_FILES: usize = 2_000;
/// Directory entries looked at most, tests or not.
const MAX_ENTRIES: usize = 200_000;
/// Bytes read at most from one test file.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// References returned at most, and from one file at most.
const MAX_REFS: usize = 20;
const MAX_REFS_PER_FILE: usize = 5;

/// Lines of test files under `root` that refer to a function.
///
/// Test files are the `.py` files in `tests/`, `test/` and `testing/` folders, and files named
/// `test_*.py` or `*_test.py` anywhere; `.git`, virtual environments (folders holding
/// `pyvenv.cfg`), `site-packages`, `node_modules`, `__pycache__` and hidden folders are skipped.
/// A file counts when it names `function_name` as a word and either imports `module` (`import
/// module`, `from module import ...`, a package above it, or its last component, as relative and
/// `sys.path`-style imports do) or, for a method, names `class_name` as a word. Its lines naming
/// the function outside imports and comments are the references.
///
/// Bounded: at most 2,000 test files read, 2 MB of each, 20 references (5 per file). Paths are
/// `root` joined with the file's place under it.
pub fn tests_for(
    root: &Path,
    module: &str,
    class_name: Option<&str>,
    function_name: &str,
) -> Vec<TestRef> {
    let mut refs = Vec::new();
    if function_name.is_empty() {
        return refs;
    }
    let mut files_read = 0;
    let mut entries_seen = 0;
    // Depth-first, names sorted, so that the same tree gives the same answer.
    let mut pending: Vec<(PathBuf, bool)> = vec![(root.to_path_buf(), false)];
    while let Some((dir, in_tests)) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        if entries.iter().any(|e| e.file_name() == "pyvenv.cfg") {
            continue;
        }
        let mut subdirs = Vec::new();
        for entry in entries {
            entries_seen += 1;
            if entries_seen > MAX_ENTRIES {
                return refs;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() {
                if !skipped_dir(&name) {
                    let tests = in_tests || matches!(&*name, "tests" | "test" | "testing");
                    subdirs.push((entry.path(), tests));
                }
                continue;
            }
            if !kind.is_file() || !is_test_file(&name, in_tests) {
                continue;
            }
            files_read += 1;
            if files_read > MAX_TEST_FILES {
                return refs;
            }
            let Some(text) = read_prefix(&entry.path()) else {
                continue;
            };
            let path = entry.path();
            for line in referring_lines(&text, module, class_name, function_name) {
                refs.push(TestRef {
                    file: path.clone(),
                    line,
                });
                if refs.len() >= MAX_REFS {
                    return refs;
                }
            }
        }
        // Popped from the end: push in reverse to visit in name order.
        pending.extend(subdirs.into_iter().rev());
    }
    refs
}

fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "site-packages" | "node_modules" | "__pycache__")
}

fn is_test_file(name: &str, in_tests: bool) -> bool {
    let Some(stem) = name.strip_suffix(".py") else {
        return false;
    };
    in_tests || stem.starts_with("test_") || stem.ends_with("_test")
}

/// The first [`MAX_FILE_BYTES`] of a file, decoded leniently.
fn read_prefix(path: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The lines of a test file that refer to the function, when the file reaches its module.
fn referring_lines(
    text: &str,
    module: &str,
    class_name: Option<&str>,
    function_name: &str,
) -> Vec<u32> {
    if !has_word(text, function_name) {
        return Vec::new();
    }
    let imported = match parse_source(text) {
        Ok(info) => info.imports.iter().any(|i| reaches(i, module)),
        // Not Python 3 (or cut at the size limit): fall back to the import lines' words.
        Err(_) => text.lines().any(|l| {
            let l = l.trim_start();
            let last = module.rsplit('.').next().unwrap_or(module);
            (l.starts_with("import ") || l.starts_with("from ")) && has_word(l, last)
        }),
    };
    let by_class = class_name.is_some_and(|c| has_word(text, c));
    if !(imported || by_class) {
        return Vec::new();
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            !(l.starts_with('#') || l.starts_with("import ") || l.starts_with("from "))
        })
        .filter(|(_, l)| has_word(l, function_name))
        .map(|(i, _)| i as u32 + 1)
        .take(MAX_REFS_PER_FILE)
        .collect()
}

/// Whether an import brings in `module`: the module itself, a package above it (which may
/// re-export its names), or a module named like its last component.
fn reaches(import: &Import, module: &str) -> bool {
    if module.is_empty() {
        return false;
    }
    let last = module.rsplit('.').next().unwrap_or(module);
    let base = import.module.trim_start_matches('.');
    let mut candidates = vec![base.to_owned()];
    if let Some(name) = &import.name {
        candidates.push(if base.is_empty() {
            name.clone()
        } else {
            format!("{base}.{name}")
        });
    }
    candidates.iter().filter(|c| !c.is_empty()).any(|c| {
        c == module
            || module.starts_with(&format!("{c}."))
            || c == last
            || c.ends_with(&format!(".{last}"))
    })
}

/// Whether `word` occurs in `text` not as part of a longer identifier.
fn has_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Config that keeps `git log` from running programs a repository's config names.
const HARDENED_GIT: &[&str] = &[
    "log.showSignature=false",
    "gpg.program=false",
    "gpg.ssh.program=false",
    "gpg.x509.program=false",
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "diff.external=",
    "core.sshCommand=false",
    "credential.helper=",
    "protocol.allow=never",
];

/// How long `git log -L` may take before the history is given up.
const GIT_TIME_LIMIT: Duration = Duration::from_secs(5);

/// The commits that changed lines `first_line..=last_line` of `file`, from `git log -L`.
///
/// `None` when the file is not in a git work tree, git is missing, the file or range is unknown
/// to git, or git takes longer than five seconds. Line numbers are those of the committed file:
/// uncommitted edits above the function shift what is asked.
pub fn history(file: &Path, first_line: u32, last_line: u32) -> Option<History> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = file.file_name()?;
    let mut range = std::ffi::OsString::from(format!("{first_line},{last_line}:"));
    range.push(name);
    let mut git = Command::new("git");
    git.arg("-C").arg(dir);
    // The repository's own config must not make git run anything: a `.git/config` can name
    // a program for signature checks, file-system monitoring, external diffs or text
    // conversion. Settings given here take precedence over every config file.
    for setting in HARDENED_GIT {
        git.args(["-c", setting]);
    }
    git.args([
        "log",
        "--no-patch",
        "--no-show-signature",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--format=%H%x09%aI%x09%ae",
        "-L",
    ])
    .arg(range)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("GIT_OPTIONAL_LOCKS", "0")
    .env("GIT_PAGER", "cat")
    .env("GIT_NO_LAZY_FETCH", "1")
    .env("GIT_EXTERNAL_DIFF", "")
    .env_remove("GIT_CONFIG_PARAMETERS");
    let out = run_limited(git, GIT_TIME_LIMIT)?;
    Some(parse_log(
        &String::from_utf8_lossy(&out),
        chrono::Utc::now(),
    ))
}

/// Runs a command to completion within `limit`, returning its standard output when it succeeds.
fn run_limited(mut command: Command, limit: Duration) -> Option<Vec<u8>> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read while waiting: a full pipe would otherwise stop the child before it exits.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let out = reader.join().ok()?.ok()?;
    status.success().then_some(out)
}

/// Reads `hash<TAB>ISO date<TAB>email` lines, newest first; other lines (patches, when a git
/// version ignores `--no-patch` with `-L`) are skipped.
fn parse_log(text: &str, now: chrono::DateTime<chrono::Utc>) -> History {
    let mut commits = 0;
    let mut newest: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    let mut authors: HashSet<&str> = HashSet::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(hash), Some(date), Some(email), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if hash.len() < 40 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        commits += 1;
        authors.insert(email);
        if let Ok(date) = chrono::DateTime::parse_from_rfc3339(date) {
            if newest.is_none_or(|n| date > n) {
                newest = Some(date);
            }
        }
    }
    History {
        commits,
        last_change: newest.map(|d| d.format("%Y-%m-%d").to_string()),
        days_since_change: newest.map(|d| {
            u32::try_from(now.signed_duration_since(d).num_days().max(0)).unwrap_or(u32::MAX)
        }),
        authors: authors.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(src: &str, qualname: &str) -> PyFunction {
        parse_source(src)
            .unwrap()
            .find(qualname, None)
            .unwrap()
            .clone()
    }

    fn kinds(f: &PyFunction) -> Vec<(BlockerKind, u32)> {
        blockers(f).iter().map(|b| (b.kind, b.line)).collect()
    }

    #[test]
    fn plain_numeric_code_has_no_blockers() {
        let f = function(
            "def dot(a, b):\n    s = 0.0\n    for x, y in zip(a, b):\n        s += x * y\n    return s\n",
            "dot",
        );
        assert_eq!(blockers(&f), vec![]);
    }

    #[test]
    fn each_construct_is_a_blocker_at_its_line() {
        let src = r#"
CACHE = {}

async def load(key, fetch):
    global CACHE
    value = await fetch(key)
    setattr(value, "loaded", True)
    CACHE[key] = eval(value.expr)
    return value

def rows(reader):
    for row in reader:
        yield row.split(",")
"#;
        let load = function(src, "load");
        use BlockerKind::*;
        assert_eq!(
            kinds(&load),
            vec![
                (Coroutine, 4),
                (GlobalState, 5),
                (Callback, 6),
                (DynamicAttributes, 7),
                (EvalExec, 8)
            ]
        );
        let b = blockers(&load);
        assert_eq!(b[1].detail, "rebinds CACHE: `global CACHE`");
        assert_eq!(
            b[2].detail,
            "calls parameter `fetch`: `value = await fetch(key)`"
        );
        assert_eq!(kinds(&function(src, "rows")), vec![(Generator, 11)]);
        assert!(Callback.reason().contains("interpreter"));
    }

    #[test]
    fn finds_tests_that_import_the_module_and_name_the_function() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "pkg/geometry.py",
            "def area(w, h):\n    return w * h\n\nclass Box:\n    def volume(self):\n        return 1\n",
        );
        write(
            "tests/test_geometry.py",
            "from pkg.geometry import area\n\n# area is tested here\ndef test_area():\n    assert area(2, 3) == 6\n",
        );
        write(
            "tests/unit/helpers.py",
            "import pkg.geometry as g\n\ndef check():\n    return g.area(1, 1)\n",
        );
        // Names the function but imports something else.
        write(
            "tests/test_other.py",
            "from shapes import area\n\ndef test_it():\n    area()\n",
        );
        // Not a test file.
        write("pkg/use.py", "from pkg.geometry import area\narea(1, 2)\n");
        // Inside a virtual environment and a hidden folder.
        write("venv/pyvenv.cfg", "home = /usr\n");
        write(
            "venv/lib/test_x.py",
            "from pkg.geometry import area\narea(1, 2)\n",
        );
        write(
            ".tox/test_y.py",
            "from pkg.geometry import area\narea(1, 2)\n",
        );
        // A method: the class name is enough, and `volume_total` is not `volume`.
        write(
            "src/box_test.py",
            "from fixtures import make\n\ndef test_box():\n    b: Box = make()\n    b.volume_total()\n    assert b.volume() == 1\n",
        );

        let got = |class: Option<&str>, name: &str| -> Vec<(String, u32)> {
            tests_for(root.path(), "pkg.geometry", class, name)
                .into_iter()
                .map(|r| {
                    let rel = r.file.strip_prefix(root.path()).unwrap();
                    (rel.to_string_lossy().into_owned(), r.line)
                })
                .collect()
        };
        assert_eq!(
            got(None, "area"),
            vec![
                ("tests/test_geometry.py".to_owned(), 5),
                ("tests/unit/helpers.py".to_owned(), 4),
            ]
        );
        assert_eq!(
            got(Some("Box"), "volume"),
            vec![("src/box_test.py".to_owned(), 6)]
        );
        assert_eq!(got(None, "missing"), vec![]);
    }

    #[test]
    fn history_counts_the_commits_that_touched_the_function() {
        let repo = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(repo.path())
                .args([
                    "-c",
                    "user.email=dev@example.com",
                    "-c",
                    "user.name=Dev",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        let file = repo.path().join("calc.py");
        let write = |text: &str| std::fs::write(&file, text).unwrap();
        git(&["init", "-q"]);
        write("def add(a, b):\n    return a + b\n\n\ndef other():\n    return 0\n");
        git(&["add", "calc.py"]);
        git(&["commit", "-q", "-m", "add"]);
        write("def add(a, b):\n    return b + a\n\n\ndef other():\n    return 0\n");
        git(&["commit", "-q", "-am", "swap"]);
        write("def add(a, b):\n    return b + a\n\n\ndef other():\n    return 1\n");
        git(&["commit", "-q", "-am", "other"]);

        let h = history(&file, 1, 2).expect("history in a repository");
        assert_eq!(h.commits, 2);
        assert_eq!(h.authors, 1);
        assert_eq!(h.days_since_change, Some(0));
        assert_eq!(h.last_change.as_deref().map(str::len), Some(10));

        let outside = tempfile::tempdir().unwrap();
        let loose = outside.path().join("calc.py");
        std::fs::write(&loose, "def f():\n    pass\n").unwrap();
        assert_eq!(history(&loose, 1, 2), None);
    }

    #[test]
    fn history_runs_no_program_the_repository_config_names() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let tool = dir.path().join("tool");
        std::fs::write(
            &tool,
            format!("#!/bin/sh\ntouch {}\ncat\n", marker.display()),
        )
        .unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .current_dir(&repo)
                .args(args)
                .env("GIT_AUTHOR_NAME", "a")
                .env("GIT_AUTHOR_EMAIL", "a@example.com")
                .env("GIT_COMMITTER_NAME", "a")
                .env("GIT_COMMITTER_EMAIL", "a@example.com")
                .output()
                .unwrap();
            assert!(ok.status.success(), "git {args:?}: {ok:?}");
        };
        std::fs::write(repo.join("m.py"), "def f():\n    return 1\n").unwrap();
        git(&["init", "-q"]);
        git(&["add", "m.py"]);
        git(&["commit", "-qm", "one"]);
        std::fs::write(repo.join(".gitattributes"), "*.py diff=conv\n").unwrap();
        let tool = tool.display().to_string();
        for (key, value) in [
            ("log.showSignature", "true"),
            ("gpg.program", tool.as_str()),
            ("core.fsmonitor", tool.as_str()),
            ("diff.external", tool.as_str()),
            ("diff.conv.textconv", tool.as_str()),
            ("core.pager", tool.as_str()),
        ] {
            git(&["config", key, value]);
        }
        std::fs::write(repo.join("m.py"), "def f():\n    return 2\n").unwrap();
        git(&["commit", "-qam", "two"]);
        // A third commit that carries a signature header, which makes git call gpg.program.
        std::fs::write(repo.join("m.py"), "def f():\n    return 3\n").unwrap();
        git(&["add", "m.py"]);
        let out = |args: &[&str]| {
            let o = Command::new("git")
                .current_dir(&repo)
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        };
        let (tree, parent) = (out(&["write-tree"]), out(&["rev-parse", "HEAD"]));
        let commit = format!(
            "tree {tree}\nparent {parent}\nauthor a <a@example.com> 1700000000 +0000\n\
             committer a <a@example.com> 1700000000 +0000\ngpgsig -----BEGIN PGP \
             SIGNATURE-----\n \n iQEzBAABCAAd\n -----END PGP SIGNATURE-----\n\nthree\n"
        );
        let object = dir.path().join("commit");
        std::fs::write(&object, commit).unwrap();
        let id = out(&[
            "hash-object",
            "-t",
            "commit",
            "-w",
            &object.display().to_string(),
        ]);
        git(&["update-ref", "HEAD", &id]);
        // The control: plain git runs the program.
        git(&["log", "--no-patch", "--format=%H", "-L", "1,2:m.py"]);
        assert!(
            marker.exists(),
            "the repository's config runs a program under plain git"
        );
        std::fs::remove_file(&marker).unwrap();
        let h = history(&repo.join("m.py"), 1, 2).expect("history in a repository");
        assert_eq!(h.commits, 3);
        assert!(
            !marker.exists(),
            "git ran a program the repository's config names"
        );
    }

    #[test]
    fn log_lines_are_parsed_and_noise_skipped() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-11T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let hash = "a".repeat(40);
        let text = format!(
            "{hash}\t2024-03-01T10:00:00+01:00\tann@x.org\n\ndiff --git a/f b/f\n{hash}\t2023-01-01T00:00:00+00:00\tbob@x.org\n{hash}\t2022-01-01T00:00:00+00:00\tann@x.org\n"
        );
        assert_eq!(
            parse_log(&text, now),
            History {
                commits: 3,
                last_change: Some("2024-03-01".into()),
                days_since_change: Some(10),
                authors: 2,
            }
        );
    }
}
