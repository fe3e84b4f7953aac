//! What port-advisor may do with a profile beyond reading it as data.
//!
//! A profile names files, and the advice would read them (source lines, tests), run git in
//! their repository (a function's history), and copy the probe's pickled examples into a stub
//! crate whose tests unpickle them. A profile received from elsewhere could point all of that
//! at anything: `/proc/self/environ`, `/dev/zero`, a repository whose config runs a program,
//! a pickle that runs code. So only a profile recorded on this machine by this user is acted
//! on: `port-advisor profile` seals the profile.json it writes with an HMAC-SHA256 of its bytes
//! under a key of this user's, kept outside any run folder (`$XDG_STATE_HOME/port-advisor/key`,
//! else `~/.local/state/port-advisor/key`, mode 0600). Any other profile is [`Provenance::Received`]
//! unless the user vouches for it with `--trust`.
//!
//! Even then, a source file is read only under the folders [`source_roots`] gives (the
//! recording's working folder, its script's folder, its interpreter's prefix), and only as a
//! regular file of bounded size ([`crate::python::source`] reads it): a program may name its
//! code `/dev/zero` (`compile(src, "/dev/zero", "exec")`).
//!
//! Depends on `profile` and, for the script named by a command line, `python::paths`.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::profile::{write_atomic, Profile, Provenance};

/// The seal's file, beside the profile it seals: `profile.json` -> `profile.json.seal`.
pub fn seal_path(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_owned();
    name.push(".seal");
    PathBuf::from(name)
}

/// Seals the profile written at `path` as recorded here, by this user.
pub fn seal(path: &Path) -> Result<()> {
    let key = user_key(true)?;
    let mac = mac_of_file(&key, path)?;
    write_atomic(&seal_path(path), |w| {
        writeln!(w, "{}", hex(&mac))?;
        Ok(())
    })
}

/// Whether the profile at `path` carries this user's seal and is unchanged since.
pub fn is_sealed(path: &Path) -> bool {
    let Ok(key) = user_key(false) else {
        return false;
    };
    let mut text = String::new();
    let Ok(file) = std::fs::File::open(seal_path(path)) else {
        return false;
    };
    if file.take(256).read_to_string(&mut text).is_err() {
        return false;
    }
    let Some(expected) = unhex(text.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    if feed_file(&mut mac, path).is_err() {
        return false;
    }
    mac.verify_slice(&expected).is_ok()
}

/// The provenance of a profile read from `path`: local when sealed here or when the user vouches
/// for it (`--trust`).
pub fn provenance_of(path: &Path, vouched: bool) -> Provenance {
    if vouched || is_sealed(path) {
        Provenance::Local
    } else {
        Provenance::Received
    }
}

/// Why the advice did not read sources or run git for a received profile, for notes.
pub const RECEIVED_NOTE: &str = "the profile was not recorded here by you, so its source files, \
     tests and git history were not read; pass --trust if you know where it came from";

/// The folders a profile's source files may be read from; empty for a received profile.
pub fn source_roots(profile: &Profile) -> Vec<PathBuf> {
    if profile.provenance != Provenance::Local {
        return Vec::new();
    }
    let cwd = profile
        .meta
        .cwd
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let mut roots = Vec::new();
    if let Some(script) = crate::python::paths::script_path(&profile.meta.command) {
        let script = match &cwd {
            Some(c) => c.join(script),
            None => PathBuf::from(script),
        };
        if let Some(dir) = script.parent().filter(|d| d.is_absolute()) {
            roots.push(dir.to_path_buf());
        }
    }
    roots.extend(cwd);
    // The interpreter's prefix (`.../bin/python` -> `...`): the standard library and the
    // packages installed for it, which the advice names when the time is spent there. A
    // virtualenv's `bin/python` links to its base interpreter, whose prefix holds the
    // standard library: both count.
    if let Some(python) = profile.meta.python_executable.as_deref().map(Path::new) {
        let real = python.canonicalize().ok();
        for exe in std::iter::once(python).chain(real.as_deref()) {
            if let Some(prefix) = exe
                .parent()
                .and_then(Path::parent)
                .filter(|p| p.is_absolute() && p != &Path::new("/"))
            {
                roots.push(prefix.to_path_buf());
            }
        }
    }
    if profile.meta.cwd.is_none() {
        // Vouched for, but with no recorded folder (an imported file): where it is read.
        roots.extend(std::env::current_dir().ok());
    }
    roots
        .into_iter()
        .filter_map(|r| r.canonicalize().ok())
        .collect()
}

/// This user's key, created on first use when `create` is set.
fn user_key(create: bool) -> Result<Vec<u8>> {
    let path = key_path().context("no home folder to keep port-advisor's key in")?;
    match read_key(&path) {
        Ok(key) => return Ok(key),
        Err(e) if !create || e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(_) => {}
    }
    let dir = path.parent().context("the key's folder")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut key))
        .context("cannot read /dev/urandom")?;
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match made {
        Ok(mut f) => {
            f.write_all(&key)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        // Another port-advisor made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// A key file is used only when it is a regular file of this user's that no one else can read.
fn read_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let mine = meta.uid() == nix::unistd::geteuid().as_raw();
    if !meta.is_file() || !mine || meta.mode() & 0o077 != 0 || meta.len() < 16 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a private key file of this user's (mode 0600, at least 16 bytes)",
        ));
    }
    let mut key = Vec::new();
    file.take(4096).read_to_end(&mut key)?;
    Ok(key)
}

fn key_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("port-advisor").join("key"))
}

fn mac_of_file(key: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).context("the key")?;
    feed_file(&mut mac, path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(mac.finalize().into_bytes().to_vec())
}

fn feed_file(mac: &mut Hmac<Sha256>, path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        mac.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_state<T>(f: impl FnOnce(&Path) -> T) -> T {
        // The key lives under XDG_STATE_HOME: one test at a time changes it.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let before = std::env::var_os("XDG_STATE_HOME");
        std::env::set_var("XDG_STATE_HOME", dir.path().join("state"));
        let out = f(dir.path());
        match before {
            Some(v) => std::env::set_var("XDG_STATE_HOME", v),
            None => std::env::remove_var("XDG_STATE_HOME"),
        }
        out
    }

    #[test]
    fn a_sealed_profile_is_local_until_it_changes() {
        with_state(|dir| {
            let path = dir.join("profile.json");
            std::fs::write(&path, b"{\"schema\": 1}").unwrap();
            assert_eq!(provenance_of(&path, false), Provenance::Received);
            seal(&path).unwrap();
            assert_eq!(provenance_of(&path, false), Provenance::Local);
            let key = dir.join("state/port-advisor/key");
            let mode = std::fs::metadata(&key).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::write(&path, b"{\"schema\": 2}").unwrap();
            assert_eq!(provenance_of(&path, false), Provenance::Received);
            assert_eq!(provenance_of(&path, true), Provenance::Local);
        });
    }

    #[test]
    fn a_seal_made_with_another_key_is_refused() {
        let sealed_elsewhere = with_state(|dir| {
            let path = dir.join("profile.json");
            std::fs::write(&path, b"{}").unwrap();
            seal(&path).unwrap();
            std::fs::read(seal_path(&path)).unwrap()
        });
        with_state(|dir| {
            let path = dir.join("profile.json");
            std::fs::write(&path, b"{}").unwrap();
            std::fs::write(seal_path(&path), &sealed_elsewhere).unwrap();
            assert!(!is_sealed(&path));
        });
    }
}
