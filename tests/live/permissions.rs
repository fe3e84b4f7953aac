//! Profiling without root: attaching to another user's process is refused with the rule that
//! refused it and its fix, and a user without root still profiles launched programs and
//! attaches to their own. Each test becomes the user `nobody` (root and `setpriv`), and says it
//! is skipped where it cannot.

use std::process::{Command, Stdio};

use crate::common::{self, refusal, unprivileged_setup, AS_NOBODY};

/// Attaching without ptrace rights: run as an unprivileged user against a root-owned Python.
#[test]
fn no_ptrace_permission_names_sudo_and_the_capability() {
    if !nix::unistd::Uid::effective().is_root() {
        common::skip("needs root to start a process as another user");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        common::skip("setpriv (util-linux) is not installed");
        return;
    }
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let mut target = Command::new(&py)
        .args(["-c", "import time; time.sleep(30)"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    // The unprivileged user must be able to write the run folder.
    Command::new("chmod")
        .arg("777")
        .arg(dir.path())
        .status()
        .unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(assert_cmd::cargo::cargo_bin("port-advisor"))
        .args(["profile", "--quiet", "--duration", "1", "--pid"])
        .arg(target.id().to_string())
        .arg("-o")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
    let err = refusal(&out, common::ATTACH, "");
    assert!(err.contains("sudo") && err.contains("SYS_PTRACE"), "{err}");
    assert!(
        err.contains("belongs to user root (uid 0)"),
        "says whose process it is: {err}"
    );
    assert!(
        !dir.path().join("run").exists(),
        "no run folder left behind"
    );
}

/// Without root, port-advisor still launches and reads a program, and attaches to the user's
/// own processes.
#[test]
fn a_user_without_root_profiles_launched_and_own_processes() {
    let Some((py, dir)) = unprivileged_setup() else {
        return;
    };
    let script = dir.path().join("spin.py");
    std::fs::write(
        &script,
        "import sys, time\ndef spin(s):\n    end = time.time() + s\n    while time.time() < end:\n        pass\nspin(float(sys.argv[1]))\n",
    )
    .unwrap();
    let nobody = |args: &[&std::ffi::OsStr]| {
        Command::new("setpriv")
            .args(AS_NOBODY)
            .arg(assert_cmd::cargo::cargo_bin("port-advisor"))
            .args(args)
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let launched = {
        let _one = common::exclusive();
        nobody(&[
            "profile".as_ref(),
            "--quiet".as_ref(),
            "--python".as_ref(),
            py.as_os_str(),
            "-o".as_ref(),
            "launched".as_ref(),
            script.as_os_str(),
            "1".as_ref(),
        ])
    };
    let err = String::from_utf8_lossy(&launched.stderr);
    assert_eq!(launched.status.code(), Some(0), "{err}");
    let profile =
        port_advisor::profile::Profile::load(&dir.path().join("launched/profile.json")).unwrap();
    assert!(
        profile.meta.samples >= 50,
        "{} samples",
        profile.meta.samples
    );

    // The spinning target holds a core: no other live run may share the machine with it.
    let _one = common::exclusive();
    let mut own = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(&py)
        .arg(&script)
        .arg("30")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = own.id().to_string();
    let attached = nobody(&[
        "profile".as_ref(),
        "--quiet".as_ref(),
        "--duration".as_ref(),
        "1".as_ref(),
        "-o".as_ref(),
        "attached".as_ref(),
        "--pid".as_ref(),
        pid.as_ref(),
    ]);
    let alive = own.try_wait().unwrap().is_none();
    own.kill().unwrap();
    own.wait().unwrap();
    let err = String::from_utf8_lossy(&attached.stderr);
    assert_eq!(attached.status.code(), Some(0), "{err}");
    assert!(alive, "the attached process was left running");
    let profile =
        port_advisor::profile::Profile::load(&dir.path().join("attached/profile.json")).unwrap();
    assert!(
        profile.meta.samples >= 50,
        "{} samples",
        profile.meta.samples
    );
}
