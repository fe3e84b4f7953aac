//! Whether a sampled thread was running, for Pythons older than 3.11.
//!
//! From 3.11 on, py-spy reads each thread's OS id from the interpreter and asks the kernel
//! whether it runs. Before 3.11 it only knows the `pthread_t` and, when it does not stop the
//! program, falls back to guessing from the top frame's name, which calls a thread inside
//! `time.sleep` or `Thread.join` busy. On glibc, `pthread_t` is the address of the thread's
//! descriptor, which holds the kernel thread id at a fixed offset: this module finds that
//! offset once per process (checked against `/proc/PID/task`, so a wrong guess is never
//! used) and then reads each thread's state from `/proc`.

use std::collections::{HashMap, HashSet};
use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// The largest descriptor offset searched for the thread id.
const MAX_OFFSET: usize = 0x1000;

/// Per-process knowledge: where the tid sits in the thread descriptor, and the ids found.
#[derive(Debug, Default)]
pub struct ThreadActivity {
    processes: HashMap<u32, ProcessThreads>,
}

/// How many searches for the offset may find nothing before a process is given up on. A
/// search can miss for a moment (a thread made or ended between the listing of the tasks and
/// the read of its descriptor); given up after one miss, every thread of that process was
/// judged by its top frame's name for the rest of the run.
const OFFSET_SEARCHES: u32 = 8;

#[derive(Debug, Default)]
struct ProcessThreads {
    /// Offset of the tid inside glibc's thread descriptor, once found.
    offset: Option<usize>,
    /// Searches that found no offset.
    missed: u32,
    tids: HashMap<u64, u32>,
}

impl ThreadActivity {
    /// Whether the thread `pthread` of `pid` is on a CPU (`R`), or `None` when unknown.
    pub fn is_running(&mut self, pid: u32, pthread: u64) -> Option<bool> {
        let tid = self.tid(pid, pthread)?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
        let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
        Some(state == 'R')
    }

    pub fn tid(&mut self, pid: u32, pthread: u64) -> Option<u32> {
        let proc_threads = self.processes.entry(pid).or_default();
        if let Some(&tid) = proc_threads.tids.get(&pthread) {
            return Some(tid);
        }
        if pthread == 0 {
            return None;
        }
        let tasks = task_ids(pid);
        let offset = match proc_threads.offset {
            Some(found) => found,
            None if proc_threads.missed >= OFFSET_SEARCHES => return None,
            None => {
                let Some(found) = find_offset(pid, pthread, &tasks) else {
                    proc_threads.missed += 1;
                    return None;
                };
                proc_threads.offset = Some(found);
                found
            }
        };
        let tid = read_u32(pid, pthread as usize + offset)?;
        if !tasks.contains(&tid) {
            return None;
        }
        proc_threads.tids.insert(pthread, tid);
        Some(tid)
    }
}

fn task_ids(pid: u32) -> HashSet<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The first 4-byte-aligned offset in the descriptor whose value is one of the process's
/// thread ids.
fn find_offset(pid: u32, pthread: u64, tasks: &HashSet<u32>) -> Option<usize> {
    let mut buf = vec![0u8; MAX_OFFSET];
    // The descriptor may sit near the end of a mapping: use as much as could be read.
    let n = read_partial(pid, pthread as usize, &mut buf)?;
    buf[..n]
        .chunks_exact(4)
        .position(|c| {
            let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            // Small numbers (flags, counts) could match low pids by chance.
            v > 100 && tasks.contains(&v)
        })
        .map(|i| i * 4)
}

fn read_u32(pid: u32, addr: usize) -> Option<u32> {
    let mut b = [0u8; 4];
    read(pid, addr, &mut b)?;
    Some(u32::from_ne_bytes(b))
}

fn read(pid: u32, addr: usize, buf: &mut [u8]) -> Option<()> {
    let n = read_partial(pid, addr, buf)?;
    (n == buf.len()).then_some(())
}

/// Reads up to `buf.len()` bytes, stopping at the first unreadable chunk (the kernel does not
/// split one request at a page it cannot read, so the request is made in small chunks).
fn read_partial(pid: u32, addr: usize, buf: &mut [u8]) -> Option<usize> {
    const CHUNK: usize = 256;
    let mut done = 0;
    for piece in buf.chunks_mut(CHUNK) {
        let len = piece.len();
        let remote = [RemoteIoVec {
            base: addr + done,
            len,
        }];
        let mut local = [IoSliceMut::new(piece)];
        match process_vm_readv(Pid::from_raw(pid as i32), &mut local, &remote) {
            Ok(n) if n == len => done += n,
            _ => break,
        }
    }
    (done > 0).then_some(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::thread::JoinHandleExt;

    #[test]
    fn a_search_that_misses_does_not_give_the_process_up() {
        let pid = std::process::id();
        let mut activity = ThreadActivity::default();
        // A descriptor of zeros holds no thread id: the search misses.
        let zeros = vec![0u8; MAX_OFFSET];
        assert_eq!(activity.tid(pid, zeros.as_ptr() as u64), None);
        // A real thread's descriptor, searched next, gives its id.
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            let _ = stopped.recv();
        });
        let tid = rx.recv().unwrap();
        let pthread = thread.as_pthread_t() as u64;
        assert_eq!(activity.tid(pid, pthread), Some(tid));
        stop.send(()).unwrap();
        thread.join().unwrap();
    }
}
