//! `port-advisor flamegraph`: a saved profile (ours or another tool's) rendered again, as a
//! flame graph painted by the advice, folded stacks, speedscope's JSON or pprof.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::analysis_of;
use super::input::load_one;
use crate::advise::{self, AdviseOptions};
use crate::cli::{FlameFormat, FlamegraphArgs};
use crate::error::ExitStatus;
use crate::profile::write_atomic;
use crate::report::flamegraph::Shape;
use crate::report::{self, folded::FoldOptions};
use crate::rules::Rules;

/// Renders the profile to `-o` (`-` for stdout), by default beside the profile.
pub fn run(args: FlamegraphArgs) -> Result<ExitStatus> {
    let (profile, path) = load_one(&args.profile, &args.input)?;
    let opts = FoldOptions {
        include_idle: args.idle,
        threads: args.threads,
    };
    let render = |w: &mut dyn Write| match args.format {
        FlameFormat::Svg => {
            let rules = Rules::load(None)?;
            let analysis = analysis_of(&profile, &rules, args.idle);
            let advice = advise::advise(
                &profile,
                &analysis,
                &rules,
                &AdviseOptions {
                    readiness: false,
                    ..AdviseOptions::default()
                },
            );
            report::paint::write_flame(&profile, &analysis, &advice, &opts, Shape::Flame, w)
        }
        FlameFormat::Folded => report::folded::write(&profile, &opts, w),
        FlameFormat::Speedscope => report::speedscope::write(&profile, &opts, w),
        FlameFormat::Pprof => report::pprof::write(&profile, &opts, w),
    };
    let output = args.output.unwrap_or_else(|| {
        let name = match args.format {
            FlameFormat::Svg => "flame.svg",
            FlameFormat::Folded => "flame.folded",
            FlameFormat::Speedscope => "flame.speedscope.json",
            FlameFormat::Pprof => "profile.pb.gz",
        };
        path.parent().unwrap_or(Path::new(".")).join(name)
    });
    if output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        render(&mut lock)?;
        lock.flush()?;
    } else {
        write_atomic(&output, render)?;
        crate::ui::note(format_args!("Wrote {}", output.display()));
    }
    Ok(ExitStatus::Success)
}
