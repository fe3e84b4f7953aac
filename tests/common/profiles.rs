//! Small profiles built in code, for the tests that check what a writer writes and an importer
//! reads back: frames of one Python file and of a native library, and a profile's stacks in a
//! form that compares.

use port_advisor::profile::{Frame, FrameKind, Profile};

/// A Python frame of `file` (module `module`) at `line` of a function starting at `first_line`.
pub fn python_frame(
    file: &str,
    module: &str,
    (name, qualname): (&str, &str),
    first_line: u32,
    line: u32,
) -> Frame {
    Frame {
        name: name.into(),
        qualname: Some(qualname.into()),
        file: file.into(),
        first_line: Some(first_line),
        line: Some(line),
        module: Some(module.into()),
        kind: FrameKind::Python,
        code: None,
    }
}

/// A native frame of `library`, its source `file` and `line` when the unwinder knew them.
pub fn native_frame(name: &str, file: &str, line: Option<u32>, library: &str) -> Frame {
    Frame {
        name: name.into(),
        qualname: None,
        file: file.into(),
        first_line: None,
        line,
        module: Some(library.into()),
        kind: FrameKind::Native,
        code: None,
    }
}

/// Each stack as its frames' display names, with its weight, in a stable order.
pub fn named_stacks(p: &Profile) -> Vec<(Vec<String>, u64)> {
    let mut out: Vec<(Vec<String>, u64)> = p
        .stacks
        .iter()
        .map(|s| {
            let names = s
                .frames
                .iter()
                .map(|&f| p.frames[f as usize].display_name().to_owned())
                .collect();
            (names, s.weight)
        })
        .collect();
    out.sort();
    out
}
