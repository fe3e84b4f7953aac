//! Any bytes through what `port-advisor report` does with a file: detect the format, parse,
//! fill in from sources, merge, analyze, advise, and write every report. An imported profile
//! can be odd in ways a recorded one never is (no threads, empty stacks, huge weights, one
//! frame repeated a thousand times), and none of that may panic. Writers may refuse with an
//! error (inferno does, for some input); only panics count.

#![no_main]

mod common;

use std::io::sink;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use port_advisor::advise::{advise, AdviseOptions};
use port_advisor::analyze::{analyze, AnalyzeOptions};
use port_advisor::profile::Profile;
use port_advisor::import::{self, InputFormat, Merge};
use port_advisor::python::blocks;
use port_advisor::report::{self, folded::FoldOptions, html::HtmlOptions};
use port_advisor::rules::Rules;

/// The built-in rules, loaded once: parsing their TOML on every run would be most of the time.
fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::load(None).expect("the built-in rules load"))
}

fn analyze_options() -> &'static AnalyzeOptions {
    static OPTIONS: OnceLock<AnalyzeOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| AnalyzeOptions {
        rules: rules().clone(),
        ..AnalyzeOptions::default()
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Some(format) = import::detect(bytes) else {
        return;
    };
    let mut profile = match import::parse(bytes, common::NAME, format, &common::options(100)) {
        Ok(p) => p,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    if format != InputFormat::PortAdvisor {
        let readable = port_advisor::trust::source_roots(&profile);
        blocks::enrich(&mut profile, &readable);
    }
    common::check_profile(&profile);
    run_stages(&profile);

    // `report a b` merges its inputs: the same profile twice, at two rates, is a merge too.
    let mut merge = Merge::default();
    merge.add("a", profile.clone());
    let mut slower = profile;
    slower.meta.sampling.rate_hz = slower.meta.sampling.rate_hz.div_ceil(3);
    merge.add("b", slower);
    let merged = merge.finish();
    common::check_indexes(&merged);
    // The writers see the same frames and stacks as above; the numbers are what changed.
    let analysis = analyze(&merged, analyze_options());
    advise(&merged, &analysis, rules(), &advise_options());
});

fn advise_options() -> AdviseOptions {
    AdviseOptions {
        readiness: false,
        ..AdviseOptions::default()
    }
}

fn run_stages(profile: &Profile) {
    let analysis = analyze(profile, analyze_options());
    let advice = advise(profile, &analysis, rules(), &advise_options());

    let plain = FoldOptions::default();
    let everything = FoldOptions {
        include_idle: true,
        threads: true,
    };
    let _ = report::folded::write(profile, &plain, &mut sink());
    let _ = report::flamegraph::write(profile, &everything, &mut sink());
    let _ = report::html::write(
        profile,
        &analysis,
        &advice,
        &HtmlOptions::default(),
        &mut sink(),
    );
    let _ = report::summary::write(
        profile,
        &analysis,
        &report::summary::SummaryOptions::default(),
        &mut sink(),
    );
    let _ = report::advice::write_json(&advice, &mut sink());
    let _ = report::advice::write_table(
        &advice,
        &report::advice::TableOptions { color: true },
        &mut sink(),
    );
    let _ = report::advice::write_markdown(&advice, &mut sink());

    // Each export, read back in: the importers then see structured input they would rarely
    // reach from random bytes. Errors are fine here; panics are not. (Speedscope without
    // threads, pprof and folded with threads and idle samples: one of each is enough.)
    let mut out = Vec::new();
    if report::speedscope::write(profile, &plain, &mut out).is_ok() {
        reimport(&out, import::speedscope::parse);
    }
    out.clear();
    if report::pprof::write(profile, &everything, &mut out).is_ok() {
        reimport(&out, import::pprof::parse);
    }
    out.clear();
    if report::folded::write(profile, &everything, &mut out).is_ok() {
        reimport(&out, import::folded::parse);
    }
}

fn reimport(
    bytes: &[u8],
    parse: fn(&[u8], &str, &import::ImportOptions) -> Result<Profile, import::ImportError>,
) {
    match parse(bytes, common::NAME, &common::options(100)) {
        Ok(p) => common::check_indexes(&p),
        Err(e) => common::check_error(&e),
    }
}
