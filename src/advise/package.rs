//! Hot code inside an installed pure-Python package with no native replacement known: the
//! boundary search run again with that package's code counted as the program's, so that the
//! advice names the hot function inside it and the best boundary there, a port in a vendored
//! copy or contributed upstream.
//!
//! Uses the boundary search as it is, on a model whose stack index adopts the package; it
//! may not change the program's own candidates.

use super::index::{package_of, Origin};
use super::model::{group_leave_its, Model};
use super::report::{Candidate, Verdict};

impl<'a> Model<'a> {
    /// Ports inside the installed packages that interpret enough of the run.
    pub(super) fn package_ports(&self, existing: &[Candidate]) -> Vec<Candidate> {
        let t = &self.rules.scoring.thresholds;
        let mut out = Vec::new();
        for package in self
            .elsewhere()
            .into_iter()
            .filter(|p| p.origin == "library" && p.share >= t.package_share)
        {
            if self.has_native_replacement(&package.package) {
                continue;
            }
            let mut inside = self.sharing_stacks();
            inside.index.adopt_package(&package.package);
            let (interpreted, _) = inside.index.deepest_program_weights();
            let (candidates, _) = inside.search_from_hot_functions(&interpreted);
            let in_package = |c: &Candidate| {
                c.function.index_in(self.analysis).is_some_and(|f| {
                    package_of(&self.analysis.functions[f]) == Some(&package.package)
                })
            };
            // A port of a program function that takes the package's code with it counts too
            // (the program's loop over a parser), and replaces the program's own port of it
            // (see `Model::advise`), unless the program's search made it something else (a
            // native library to use).
            let already = |c: &Candidate| {
                existing.iter().any(|e| {
                    e.function == c.function
                        && !matches!(e.verdict, Verdict::LeaveIt | Verdict::Port)
                })
            };
            // One row per function, as in the program's own search: two hot functions under
            // one boundary are one leave-it, not two of the same name.
            let mut candidates = group_leave_its(
                candidates
                    .into_iter()
                    .filter(|c| in_package(c) || (c.verdict != Verdict::LeaveIt && !already(c)))
                    .collect(),
            );
            // No port inside it: still name where its time goes, and why no port pays.
            if !candidates.iter().any(|c| c.verdict != Verdict::LeaveIt) {
                candidates.sort_by(|a, b| b.time_share.total_cmp(&a.time_share));
                candidates.truncate(1);
            }
            for mut c in candidates {
                let inside = in_package(&c);
                c.summary = match (c.verdict, inside) {
                    (Verdict::Port, true) => format!(
                        "{}; inside the installed package {} ({:.0}% of the run interprets \
                         it): port it in a vendored copy, or contribute the port upstream",
                        c.summary,
                        package.package,
                        100.0 * package.share
                    ),
                    (Verdict::Port, false) => format!(
                        "{}; the port takes the code it calls in the installed package {} \
                         ({:.0}% of the run interprets it) with it",
                        c.summary,
                        package.package,
                        100.0 * package.share
                    ),
                    (Verdict::LeaveIt, _) => format!(
                        "inside the installed package {} ({:.0}% of the run interprets it): {}",
                        package.package,
                        100.0 * package.share,
                        c.summary
                    ),
                    (Verdict::UseLibrary, _) => format!(
                        "{}; inside the installed package {}",
                        c.summary, package.package
                    ),
                };
                c.package = Some(package.package.clone());
                out.push(c);
            }
        }
        out
    }

    /// Whether a rule names a native replacement for code of `package` (then the advice says
    /// "use library" instead).
    fn has_native_replacement(&self, package: &str) -> bool {
        self.analysis
            .functions
            .iter()
            .enumerate()
            .any(|(f, stats)| {
                self.index.origins[f] == Origin::Library
                    && package_of(stats) == Some(package)
                    && stats
                        .module
                        .as_deref()
                        .is_some_and(|m| self.rules.analogue_for_module(m).is_some())
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::advise::report::Verdict;
    use crate::advise::test_support::{advice_of, python_frame};
    use crate::profile::{FrameId, Meta, ProfileBuilder};

    /// The frame of `name` in module `module`, file `path` of an installed package.
    fn installed(b: &mut ProfileBuilder, path: &str, name: &str, module: &str) -> FrameId {
        let file = format!("/venv/lib/python3.11/site-packages/{path}");
        b.intern_frame(python_frame(name, &file, module))
    }

    /// Two hot functions of a package whose boundary is the same function give one row for
    /// it, not one row per hot function.
    #[test]
    fn a_package_function_is_one_row_whatever_its_hot_functions() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let site = "/venv/lib/python3.11/site-packages/fakedata";
        let mut frame = |name: &str, file: &str, module: &str| {
            b.intern_frame(python_frame(name, &format!("{site}/{file}"), module))
        };
        let format = frame("Generator.format", "generator.py", "fakedata.generator");
        let pick = frame("Provider.pick", "providers.py", "fakedata.providers");
        let sentence = frame("Lorem.sentence", "lorem.py", "fakedata.lorem");
        let words = frame("Lorem.words", "lorem.py", "fakedata.lorem");
        for _ in 0..70 {
            b.add_stack(t, vec![main, format, pick], false, true, false);
        }
        for _ in 0..3 {
            b.add_stack(t, vec![main, sentence], false, true, false);
        }
        for _ in 0..2 {
            b.add_stack(t, vec![main, sentence, words], false, true, false);
        }
        for _ in 0..25 {
            b.add_stack(t, vec![main], false, true, false);
        }
        let advice = advice_of(&b.to_profile(Meta::default()));
        let rows: Vec<&str> = advice
            .candidates
            .iter()
            .map(|c| c.function.name.as_str())
            .collect();
        let mut unique = rows.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(rows.len(), unique.len(), "{rows:?}");
    }

    /// A program loop over numpy calls on tiny arrays (through another package's filter, as
    /// filterpy's), where the time is numpy's Python wrappers and its per-call machinery: a port
    /// does that work with a crate (ndarray, fixed-size arrays), so the port is of the loop, not
    /// inside numpy.
    #[test]
    fn numpys_python_layer_ports_along_with_the_loop_that_calls_it() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let track = b.intern_frame(python_frame("track", "/home/me/app.py", "app"));
        let linalg = "numpy.linalg.linalg";
        let inv = installed(&mut b, "numpy/linalg/linalg.py", "inv", linalg);
        let common = installed(&mut b, "numpy/linalg/linalg.py", "_commonType", linalg);
        // The loop calls numpy through another installed package's filter.
        let update = installed(
            &mut b,
            "fakefilter/filter.py",
            "Filter.update",
            "fakefilter.filter",
        );
        for _ in 0..10 {
            b.add_stack(t, vec![main, track], false, true, false);
        }
        for _ in 0..10 {
            b.add_stack(t, vec![main, track, update], false, true, false);
        }
        for _ in 0..50 {
            b.add_stack(t, vec![main, track, update, inv], false, true, false);
        }
        for _ in 0..25 {
            b.add_stack(
                t,
                vec![main, track, update, inv, common],
                false,
                true,
                false,
            );
        }
        for _ in 0..5 {
            b.add_stack(t, vec![main], false, true, false);
        }
        // The native pass saw numpy's wrappers interpreting, never in a typed loop.
        for _ in 0..10 {
            b.add_stack(t, vec![main, track, update, inv], false, true, true);
        }
        let advice = advice_of(&b.to_profile(Meta::default()));
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "track"),
            "{:#?}",
            advice.candidates
        );
        assert!(
            !advice
                .candidates
                .iter()
                .any(|c| c.verdict == Verdict::Port && c.function.name == "inv"),
            "{:#?}",
            advice.candidates
        );
    }

    /// A program loop over an installed package's decoder: ported with the package's code it
    /// calls, it saves far more than its own lines alone, and that one row stands for it,
    /// whether or not its own lines alone would have paid (dpkt_pcap read 1.3x-1.5x or
    /// 4.5x-7.0x from one run to the next on that turn).
    #[test]
    fn a_program_loop_ported_with_the_package_code_it_calls_is_one_row() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let analyse = b.intern_frame(python_frame("analyse", "/home/me/app.py", "app"));
        let packet = "fakenet.packet";
        let init = installed(&mut b, "fakenet/packet.py", "Packet.__init__", packet);
        let unpack = installed(&mut b, "fakenet/packet.py", "Packet.unpack", packet);
        for _ in 0..45 {
            b.add_stack(t, vec![main, analyse], false, true, false);
        }
        for _ in 0..25 {
            b.add_stack(t, vec![main, analyse, init], false, true, false);
        }
        for _ in 0..25 {
            b.add_stack(t, vec![main, analyse, init, unpack], false, true, false);
        }
        for _ in 0..5 {
            b.add_stack(t, vec![main], false, true, false);
        }
        let advice = advice_of(&b.to_profile(Meta::default()));
        let rows: Vec<_> = advice
            .candidates
            .iter()
            .filter(|c| c.function.name == "analyse")
            .collect();
        assert_eq!(rows.len(), 1, "{:#?}", advice.candidates);
        let row = rows[0];
        assert_eq!(row.verdict, Verdict::Port, "{}", row.summary);
        assert!(
            row.summary.contains("installed package fakenet"),
            "the port takes the package's code with it: {}",
            row.summary
        );
    }
}
