//! Before and after an attach: whether the process is there and still running, its command
//! line, and, when the system refuses to let it be read, why and what fixes it (another user's
//! process, Yama's ptrace_scope, a container without CAP_SYS_PTRACE), told apart from a
//! process that is not a Python program port-advisor can read.
//!
//! It reads `/proc` and never attaches, pauses or signals anything itself; py-spy's types stay
//! out of it.

use anyhow::Result;

use crate::error::UserError;

/// Whether the system refused to let the process be read.
pub(super) fn is_permission_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("Permission denied") || text.contains("Operation not permitted")
}

/// Refuses a `--pid` with no process behind it before anything starts.
pub(super) fn check_attachable(pid: u32) -> Result<()> {
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(UserError::Attach(format!(
            "no process with pid {pid}: check the number with `ps` or `pgrep python`"
        ))
        .into());
    }
    Ok(())
}

/// What a user is told when the sampler could not read the process: refused (and what
/// fixes it), gone, or not a Python program port-advisor can read.
pub(super) fn classify_attach_error(pid: u32, err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}");
    if is_permission_error(&err) {
        return UserError::Attach(permission_advice(pid, &PtraceFacts::read(pid))).into();
    }
    if !process_running(pid) {
        return UserError::Attach(format!("process {pid} exited before it could be sampled"))
            .into();
    }
    UserError::Unsupported(format!(
        "process {pid} is not a Python program port-advisor can read ({text}); \
         give the pid of a CPython 2.7 or 3.x process"
    ))
    .into()
}

/// What decides whether this process may read another: the Linux rules for ptrace access.
#[derive(Debug, Clone, Default)]
struct PtraceFacts {
    our_uid: u32,
    /// The target's real user id, from `/proc/PID/status`.
    target_uid: Option<u32>,
    target_user: Option<String>,
    /// CAP_SYS_PTRACE is in this process's effective set.
    has_cap: bool,
    /// `/proc/sys/kernel/yama/ptrace_scope`, when the Yama module is there.
    yama_scope: Option<u8>,
}

/// CAP_SYS_PTRACE's bit in the capability sets.
const CAP_SYS_PTRACE: u32 = 19;

impl PtraceFacts {
    fn read(pid: u32) -> PtraceFacts {
        let status_field = |path: &str, field: &str| -> Option<String> {
            std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
                l.strip_prefix(field)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            })
        };
        let target_uid = status_field(&format!("/proc/{pid}/status"), "Uid:")
            .and_then(|u| u.parse::<u32>().ok());
        let has_cap = status_field("/proc/self/status", "CapEff:")
            .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
            .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
        PtraceFacts {
            our_uid: nix::unistd::geteuid().as_raw(),
            target_uid,
            target_user: target_uid.and_then(|u| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(u))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            }),
            has_cap,
            yama_scope: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
        }
    }
}

/// Why reading `pid` was refused, and what fixes it: another user's process, Yama's
/// ptrace_scope, or a missing CAP_SYS_PTRACE (a container), told apart.
fn permission_advice(pid: u32, f: &PtraceFacts) -> String {
    if let Some(uid) = f.target_uid.filter(|&u| u != f.our_uid && !f.has_cap) {
        let who = match &f.target_user {
            Some(name) => format!("user {name} (uid {uid})"),
            None => format!("uid {uid}"),
        };
        return format!(
            "process {pid} belongs to {who}, and reading another user's process needs root \
             or CAP_SYS_PTRACE: run port-advisor with sudo (in a container, \
             --cap-add SYS_PTRACE)"
        );
    }
    match f.yama_scope {
        Some(scope) if scope >= 1 && !f.has_cap => {
            let rule = match scope {
                1 => "only a process's own children can be read",
                2 => "only root with CAP_SYS_PTRACE can read a process",
                _ => "no process can be read",
            };
            let fix = if scope >= 3 {
                "launch the program through port-advisor instead of --pid (scope 3 stays until \
                 reboot)"
            } else {
                "run port-advisor with sudo, launch the program through port-advisor instead of \
                 --pid, or allow it with `sudo sysctl kernel.yama.ptrace_scope=0`"
            };
            format!(
                "reading process {pid} was refused by Yama: kernel.yama.ptrace_scope is \
                 {scope}, so {rule}; {fix}"
            )
        }
        _ if !f.has_cap && f.our_uid == 0 => format!(
            "reading process {pid} was refused: port-advisor runs as root but without \
             CAP_SYS_PTRACE (a container drops it): give the container --cap-add SYS_PTRACE"
        ),
        _ => format!(
            "permission denied reading process {pid}: run port-advisor with sudo (in a \
             container, --cap-add SYS_PTRACE)"
        ),
    }
}

/// Why a process cannot be sampled because it runs a free-threaded CPython (3.13t, 3.14t),
/// told by its executable or the libpython it maps; `None` for any other process.
pub(super) fn free_threaded(pid: u32) -> Option<String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let version = free_threaded_version(&exe.display().to_string(), &maps)?;
    Some(super::launch::free_threaded_refusal(
        &format!("process {pid} ({})", exe.display()),
        &version,
    ))
}

/// The `3.X` of a free-threaded build from its executable (`python3.14t`) or the libpython
/// it maps (`libpython3.14t.so.1.0`).
fn free_threaded_version(exe: &str, maps: &str) -> Option<String> {
    fn version_t(name: &str, prefix: &str) -> Option<String> {
        let rest = name.strip_prefix(prefix)?;
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (version, tail) = rest.split_at(digits);
        (tail.starts_with('t') && (tail.len() == 1 || tail[1..].starts_with(".so")))
            .then(|| version.trim_end_matches('.').to_owned())
            .filter(|v| v.starts_with("3."))
    }
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    version_t(&base(exe), "python").or_else(|| {
        maps.lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find_map(|path| version_t(&base(path), "libpython"))
    })
}

/// The process's command line; empty when it cannot be read.
pub(super) fn proc_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a process exists and has not exited: `/proc/PID/stat` is readable and its state
/// is not zombie (`Z`) or dead (`X`).
pub(super) fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(our_uid: u32, target_uid: u32, has_cap: bool, yama: Option<u8>) -> PtraceFacts {
        PtraceFacts {
            our_uid,
            target_uid: Some(target_uid),
            target_user: (target_uid == 0).then(|| "root".to_string()),
            has_cap,
            yama_scope: yama,
        }
    }

    #[test]
    fn free_threaded_builds_are_told_by_their_files() {
        assert_eq!(
            free_threaded_version("/root/.pyenv/versions/3.13.0t/bin/python3.13t", "").as_deref(),
            Some("3.13")
        );
        let maps = "7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/libpython3.14t.so.1.0\n";
        assert_eq!(
            free_threaded_version("/usr/bin/python3", maps).as_deref(),
            Some("3.14")
        );
        for exe in ["/usr/bin/python3.14", "/usr/bin/python3", "/opt/pytest"] {
            assert_eq!(free_threaded_version(exe, ""), None, "{exe}");
        }
        let default = "7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/libpython3.14.so.1.0\n";
        assert_eq!(free_threaded_version("/usr/bin/python3", default), None);
    }

    #[test]
    fn permission_errors_are_told_apart() {
        let other = permission_advice(7, &facts(1000, 0, false, None));
        assert!(other.contains("belongs to user root (uid 0)"), "{other}");
        assert!(other.contains("sudo"), "{other}");

        let yama = permission_advice(7, &facts(1000, 1000, false, Some(1)));
        assert!(yama.contains("ptrace_scope is 1"), "{yama}");
        assert!(yama.contains("own children"), "{yama}");
        assert!(yama.contains("instead of --pid"), "{yama}");
        let locked = permission_advice(7, &facts(1000, 1000, false, Some(3)));
        assert!(locked.contains("no process can be read"), "{locked}");
        assert!(!locked.contains("sysctl"), "{locked}");

        let container = permission_advice(7, &facts(0, 0, false, None));
        assert!(
            container.contains("without CAP_SYS_PTRACE") && container.contains("--cap-add"),
            "{container}"
        );

        // Yama does not bind a process that has the capability.
        let generic = permission_advice(7, &facts(0, 0, true, Some(1)));
        assert!(generic.starts_with("permission denied"), "{generic}");
    }
}
