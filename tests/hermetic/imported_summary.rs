//! The terminal summary of an imported file: names that hold terminal controls are written
//! out, and what the importer cut from the file is said. The importer and the summary stay
//! apart in the crate; this is where they meet.

use port_advisor::analyze::analyze;
use port_advisor::import::{self, ImportOptions, InputFormat};
use port_advisor::report::summary::{write, SummaryOptions};

#[test]
fn names_are_written_out_and_an_import_says_what_it_cut() {
    let deep = vec!["f"; 5000].join(";");
    let text =
        format!("main (app.py:1);work\x1b[2J (app\u{202e}.py:5) 80\n{deep};leaf\u{9b}0m 20\n");
    let opts = ImportOptions::default();
    let profile = import::parse(text.as_bytes(), "in", InputFormat::Folded, &opts).unwrap();
    let analysis = analyze(&profile, &Default::default());
    let mut out = Vec::new();
    write(&profile, &analysis, &SummaryOptions::default(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains(['\x1b', '\u{9b}', '\u{202e}']), "{out}");
    assert!(out.contains("work\\x1b[2J"), "{out}");
    assert!(out.contains("app\\u{202e}.py"), "{out}");
    assert!(out.contains("leaf\\x9b0m"), "{out}");
    assert!(
        out.contains("Imported with a note (1 stack): stack deeper than 4096 frames"),
        "{out}"
    );
}
