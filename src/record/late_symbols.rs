//! Native frames in code loaded after py-spy last read the program's libraries, placed.
//!
//! py-spy reads the symbols of every library mapped when it attaches. When the native pass
//! unwinds an address in none of them (an extension module imported since, `import cmath`
//! inside a function), it puts a stand-in frame there, named by the address alone with no
//! library, and reloads its libraries before its next read. The stand-in stays in the stack:
//! the advice reads it as unknown native code, so the call of the module's C wrapper (which
//! the interpreter's rules count as Python's time) and its C library's math (which a port
//! runs faster) both read as native work a port cannot speed up. Over 106 profiles of real
//! programs, 23 of 1,243 native samples held one, under pickle, zlib, expat, struct, array and
//! math calls: the first sample under each newly loaded extension.
//!
//! The library loaded since is still mapped after the read (CPython never unloads an
//! extension), so the address is looked up again, with the maps read anew, and the stand-in
//! becomes the frames py-spy would have given it.

use py_spy::{Frame, StackTrace};
use remoteprocess::{StackFrame, Symbolicator};

/// The native pass's second look at addresses py-spy could not place.
pub(super) struct LateSymbols {
    pid: remoteprocess::Pid,
    /// Read on the first stand-in met, then reloaded before each read that meets one.
    symbolicator: Option<Symbolicator>,
}

impl LateSymbols {
    pub(super) fn new(pid: remoteprocess::Pid) -> LateSymbols {
        LateSymbols {
            pid,
            symbolicator: None,
        }
    }

    /// Replaces each stand-in frame of `traces` by the frames of its address, read from the
    /// program's libraries as they are mapped now. A stand-in whose address is still in no
    /// library, or read while the program is gone, stays. Returns how many were placed.
    pub(super) fn place(&mut self, traces: &mut [StackTrace]) -> usize {
        if !traces.iter().flat_map(|t| &t.frames).any(is_stand_in) {
            return 0;
        }
        let loaded = match self.symbolicator.as_mut() {
            Some(symbolicator) => symbolicator.reload().is_ok(),
            None => match Symbolicator::new(self.pid) {
                Ok(symbolicator) => {
                    self.symbolicator = Some(symbolicator);
                    true
                }
                Err(_) => false,
            },
        };
        let Some(symbolicator) = self.symbolicator.as_ref().filter(|_| loaded) else {
            return 0;
        };
        let mut placed = 0;
        for trace in traces {
            if !trace.frames.iter().any(is_stand_in) {
                continue;
            }
            let mut frames = Vec::with_capacity(trace.frames.len());
            for frame in trace.frames.drain(..) {
                let found = stand_in_address(&frame)
                    .map(|addr| frames_at(symbolicator, addr))
                    .unwrap_or_default();
                if found.is_empty() {
                    frames.push(frame);
                } else {
                    placed += 1;
                    frames.extend(found);
                }
            }
            trace.frames = frames;
        }
        placed
    }
}

/// py-spy's stand-in for an address in no library it knows: no library, file `?`, and the
/// address as its name.
fn is_stand_in(frame: &Frame) -> bool {
    stand_in_address(frame).is_some()
}

fn stand_in_address(frame: &Frame) -> Option<u64> {
    if frame.module.is_some() || frame.filename != "?" || frame.line != 0 {
        return None;
    }
    u64::from_str_radix(frame.name.strip_prefix("0x")?, 16).ok()
}

/// The frames at `addr` (more than one where the compiler inlined a function), innermost
/// first, as py-spy names them; none when no library holds it.
fn frames_at(symbolicator: &Symbolicator, addr: u64) -> Vec<Frame> {
    let mut frames = Vec::new();
    let looked_up = symbolicator.symbolicate(addr, true, &mut |f: &StackFrame| {
        frames.push(as_py_spy_frame(f));
    });
    if looked_up.is_err() {
        frames.clear();
    }
    frames
}

/// A frame as py-spy's own unwinder turns it out: the demangled function, its source file
/// where the library's debug information has one (the library's path otherwise), and the
/// library's path as its module.
fn as_py_spy_frame(f: &StackFrame) -> Frame {
    let (name, filename) = match &f.function {
        Some(function) => (
            demangled(function),
            f.filename.clone().unwrap_or_else(|| f.module.clone()),
        ),
        None => (format!("0x{:x}", f.addr), f.module.clone()),
    };
    Frame {
        name,
        filename,
        module: Some(f.module.clone()),
        short_filename: None,
        line: f.line.map_or(0, |l| l as i32),
        locals: None,
        is_entry: true,
        is_shim_entry: true,
    }
}

/// A C++ or Rust (legacy) symbol without its parameters, as py-spy shows it; a C name as it is.
fn demangled(function: &str) -> String {
    if !function.starts_with("_Z") {
        return function.to_owned();
    }
    let options = cpp_demangle::DemangleOptions::new()
        .no_params()
        .no_return_type();
    cpp_demangle::Symbol::new(function.as_bytes())
        .ok()
        .and_then(|symbol| symbol.demangle_with_options(&options).ok())
        .unwrap_or_else(|| function.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, filename: &str, module: Option<&str>) -> Frame {
        Frame {
            name: name.into(),
            filename: filename.into(),
            module: module.map(Into::into),
            short_filename: None,
            line: 0,
            locals: None,
            is_entry: true,
            is_shim_entry: true,
        }
    }

    #[test]
    fn only_py_spys_stand_in_is_looked_up_again() {
        assert_eq!(
            stand_in_address(&frame("0x7faf8942b2a2", "?", None)),
            Some(0x7faf_8942_b2a2)
        );
        // An address in a known library without a symbol for it: py-spy named the library.
        let unnamed = frame("0x7faf8a24524a", "/lib/libc.so.6", Some("/lib/libc.so.6"));
        assert_eq!(stand_in_address(&unnamed), None);
        // Python frames, whose file py-spy could not read.
        let mut python = frame("run", "?", None);
        assert_eq!(stand_in_address(&python), None);
        python.name = "0x1".into();
        python.line = 3;
        assert_eq!(stand_in_address(&python), None);
    }

    #[test]
    fn names_are_shown_as_py_spy_shows_them() {
        assert_eq!(demangled("math_1"), "math_1");
        assert_eq!(demangled("_ZN3foo3barEv"), "foo::bar");
        assert_eq!(demangled("_Znot_a_symbol"), "_Znot_a_symbol");
        let placed = as_py_spy_frame(&StackFrame {
            line: None,
            addr: 0x10,
            function: Some("cmath_exp".into()),
            filename: None,
            module: "/x/cmath.cpython-311-x86_64-linux-gnu.so".into(),
        });
        assert_eq!(placed.name, "cmath_exp");
        assert_eq!(placed.filename, "/x/cmath.cpython-311-x86_64-linux-gnu.so");
        assert_eq!(placed.module.as_deref(), Some(placed.filename.as_str()));
    }
}
