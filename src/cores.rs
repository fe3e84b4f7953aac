//! Work on a profile's stacks cut in two, one half on each core: the machine a fleet's
//! profiles are advised on may have only two.

/// Stacks below which work stays on one core: a thread costs more than it saves.
pub(crate) const PARALLEL_STACKS: usize = 50_000;

/// Whether work on `stacks` stacks is worth cutting in two: enough of them, and a second core.
pub(crate) fn split(stacks: usize) -> bool {
    stacks >= PARALLEL_STACKS && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// `(first(), second())`, `second` on a thread named `name` meanwhile, or after `first` on
/// this one when no thread can be started. A panic in either goes on in the caller.
pub(crate) fn join<A, B: Send>(
    name: &str,
    first: impl FnOnce() -> A,
    second: impl Fn() -> B + Sync,
) -> (A, B) {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, &second);
        let a = first();
        let b = match spawned {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => second(),
        };
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_halves_run_once_and_come_back_in_order() {
        let (a, b) = join(
            "test",
            || (1..=100).sum::<u32>(),
            || (101..=200).sum::<u32>(),
        );
        assert_eq!((a, b), (5050, 15050));
        assert!(!split(PARALLEL_STACKS - 1));
    }
}
