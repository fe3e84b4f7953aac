//! Frames interned by label, for the parsers of formats that name frames by strings.
//!
//! A fleet's file names hundreds of thousands of distinct frames, far more than the cache
//! holds, and every frame of every line is looked up. Looked up one after the other, each
//! lookup reads a slot from anywhere in memory, and the processor mostly waits on that read
//! (a hash map of boxed strings took about 190 ns a frame on a file of a million stacks and
//! 400,000 labels). So the frames of many lines are looked up together
//! ([`LabelFrames::intern_hashed`]), a step at a time for all of them: hash every label, then
//! read every slot. The reads of one step do not depend on one another, so they overlap. What
//! no slot held (a label seen for the first time) is then looked up and added one by one, in
//! the file's order, so that frames are numbered in the order they first appear.
//!
//! A label is known by a 96-bit fingerprint, two hashes with keys drawn for each process,
//! held in its slot beside its frame: a lookup reads one slot and never the label's bytes (a
//! comparison with a copy of each label kept for it was half the time of a fleet file's
//! import: that copy is anywhere in memory too). Two of a million distinct labels share a
//! fingerprint with a probability of about 10^-17. Only labels of the same file are compared,
//! and the file names every frame it wants: a label made to collide with another of the same
//! file could only show that other label, which the file could as well have written.

use std::hash::BuildHasher;

use super::{frame_from_label_in, ModuleNames};
use crate::profile::{FrameId, ProfileBuilder};

/// A label's fingerprint: its two hashes.
pub type LabelHash = (u64, u64);

/// What fingerprints labels, with the keys of one [`LabelFrames`]: a reader may hash the
/// labels as it reads them, on its own thread.
#[derive(Debug, Clone, Default)]
pub struct LabelHasher([foldhash::fast::RandomState; 2]);

impl LabelHasher {
    pub fn hash(&self, label: &str) -> LabelHash {
        let [a, b] = &self.0;
        (a.hash_one(label.as_bytes()), b.hash_one(label.as_bytes()))
    }
}

#[derive(Debug)]
pub struct LabelFrames {
    /// Open addressing by the first hash: that hash, then the high half of the second above
    /// 1 + the frame (0 when empty).
    slots: Vec<[u64; 2]>,
    /// Labels interned, at most half the slots.
    len: usize,
    hasher: LabelHasher,
    /// The module of each file a new label names.
    modules: ModuleNames,
}

impl Default for LabelFrames {
    fn default() -> LabelFrames {
        LabelFrames {
            slots: empty_slots(1 << 12),
            len: 0,
            hasher: LabelHasher::default(),
            modules: ModuleNames::default(),
        }
    }
}

/// `n` empty slots, written: memory the allocator hands over zeroed is mapped to one shared
/// zero page until first written, and a slot read before it is written (a lookup that misses
/// reads some) makes that first write replace the mapping, which the other core, running the
/// reader, must be interrupted to forget: once per page. Written first, reading a file of a
/// million stacks and 212,000 labels took 0.36 s instead of 0.40 s.
fn empty_slots(n: usize) -> Vec<[u64; 2]> {
    let mut slots = Vec::with_capacity(n);
    slots.resize(n, [0; 2]);
    slots
}

/// Frames whose lookups go step by step together: enough for their reads to overlap, few
/// enough for what they read to stay in the cache until used.
const CHUNK: usize = 2048;

/// The most labels: a slot holds its frame in 32 bits.
const MAX_LABELS: usize = u32::MAX as usize - 1;

/// Why a label cannot be added.
pub const TOO_MANY_LABELS: &str =
    "the frames have more than 4 billion distinct names: not a profile port-advisor can hold";

impl LabelFrames {
    /// The frame of one label.
    pub fn intern(
        &mut self,
        builder: &mut ProfileBuilder,
        label: &str,
    ) -> Result<FrameId, &'static str> {
        let hash = self.hash(label);
        self.grow_for(1);
        match self.find(hash) {
            Some(frame) => Ok(frame),
            None => self.add(builder, label, hash),
        }
    }

    /// The frame of `text[at..at + len]` for each span, in order, into `out`, given each
    /// label's hash by [`Self::hasher`]: the same frames as [`intern`](Self::intern) on each in
    /// turn, found faster when there are many.
    pub fn intern_hashed(
        &mut self,
        builder: &mut ProfileBuilder,
        text: &str,
        spans: &[(u32, u32)],
        hashes: &[LabelHash],
        out: &mut Vec<FrameId>,
    ) -> Result<(), &'static str> {
        let label = |i: usize| {
            let (at, len) = spans[i];
            &text[at as usize..(at + len) as usize]
        };
        out.clear();
        out.resize(spans.len(), NOT_FOUND);
        for start in (0..spans.len()).step_by(CHUNK) {
            let chunk = start..(start + CHUNK).min(spans.len());
            // Grown before the chunk, not during it: the slots read for it stay where they are.
            self.grow_for(chunk.len());
            let hashes = &hashes[chunk];
            // Every slot read before any is used: the reads do not wait on one another.
            for (k, &hash) in hashes.iter().enumerate() {
                if let Some(frame) = self.find(hash) {
                    out[start + k] = frame;
                }
            }
            // New labels: added in order (a label new twice in the chunk is found the second
            // time).
            for (k, &hash) in hashes.iter().enumerate() {
                if out[start + k] == NOT_FOUND {
                    out[start + k] = match self.find(hash) {
                        Some(frame) => frame,
                        None => self.add(builder, label(start + k), hash)?,
                    };
                }
            }
        }
        Ok(())
    }

    fn hash(&self, label: &str) -> LabelHash {
        self.hasher.hash(label)
    }

    /// What hashes labels as this table does.
    pub fn hasher(&self) -> &LabelHasher {
        &self.hasher
    }

    /// Room for `more` labels with the slots at most half full.
    fn grow_for(&mut self, more: usize) {
        while (self.len + more) * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// The frame of the label with these hashes, when interned.
    fn find(&self, (first, second): LabelHash) -> Option<FrameId> {
        let mask = self.slots.len() - 1;
        let mut s = first as usize & mask;
        loop {
            let [hash, rest] = self.slots[s];
            if rest == 0 {
                return None;
            }
            if hash == first && rest >> 32 == second >> 32 {
                return Some(rest as u32 - 1);
            }
            s = (s + 1) & mask;
        }
    }

    /// Adds a label `find` did not find.
    fn add(
        &mut self,
        builder: &mut ProfileBuilder,
        label: &str,
        (first, second): LabelHash,
    ) -> Result<FrameId, &'static str> {
        if self.len >= MAX_LABELS {
            return Err(TOO_MANY_LABELS);
        }
        let modules = &mut self.modules;
        let frame = builder.intern_frame(frame_from_label_in(label, &mut |file| modules.of(file)));
        let mask = self.slots.len() - 1;
        let mut s = first as usize & mask;
        while self.slots[s][1] != 0 {
            s = (s + 1) & mask;
        }
        self.slots[s] = [first, (second >> 32) << 32 | (u64::from(frame) + 1)];
        self.len += 1;
        Ok(frame)
    }

    /// Twice the slots, every label placed again by its first hash.
    fn grow(&mut self) {
        let mut slots = empty_slots(self.slots.len() * 2);
        let mask = slots.len() - 1;
        for &slot in self.slots.iter().filter(|s| s[1] != 0) {
            let mut s = slot[0] as usize & mask;
            while slots[s][1] != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = slot;
        }
        self.slots = slots;
    }
}

/// `out` for a frame no slot held yet.
const NOT_FOUND: FrameId = FrameId::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of the spans' labels, hashed as a reader hashes them.
    fn intern_batch(
        frames: &mut LabelFrames,
        builder: &mut ProfileBuilder,
        text: &str,
        spans: &[(u32, u32)],
        out: &mut Vec<FrameId>,
    ) {
        let hashes: Vec<LabelHash> = spans
            .iter()
            .map(|&(at, len)| {
                frames
                    .hasher()
                    .hash(&text[at as usize..(at + len) as usize])
            })
            .collect();
        frames
            .intern_hashed(builder, text, spans, &hashes, out)
            .unwrap();
    }

    /// Labels that share long prefixes and differ in a digit, of lengths around the word.
    fn labels(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("f{} (/app/m{}.py:{})", i % 97, i % 13, i).repeat(1 + i % 3))
            .collect()
    }

    #[test]
    fn a_batch_finds_the_frames_one_by_one_lookups_find_in_the_same_order() {
        let all = labels(3000);
        // Lines drawn over and over from the labels, new ones appearing as the batches go.
        let mut lines = Vec::new();
        let mut seed = 7u64;
        for i in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let reach = (i / 4).clamp(1, all.len());
            lines.push(all[(seed >> 33) as usize % reach].clone());
        }
        let mut one = ProfileBuilder::default();
        let mut one_by_one = LabelFrames::default();
        let expected: Vec<FrameId> = lines
            .iter()
            .map(|l| one_by_one.intern(&mut one, l).unwrap())
            .collect();

        let mut batched = ProfileBuilder::default();
        let mut frames = LabelFrames::default();
        let mut got = Vec::new();
        for chunk in lines.chunks(1234) {
            let mut text = String::new();
            let mut spans = Vec::new();
            for l in chunk {
                spans.push((text.len() as u32, l.len() as u32));
                text.push_str(l);
            }
            let mut out = Vec::new();
            intern_batch(&mut frames, &mut batched, &text, &spans, &mut out);
            got.extend(out);
        }
        assert_eq!(got, expected);
        let names = |b: ProfileBuilder| -> Vec<String> {
            let p = b.into_profile(Default::default());
            p.frames.iter().map(|f| format!("{f:?}")).collect()
        };
        assert_eq!(names(batched), names(one));
        let distinct: std::collections::HashSet<&String> = lines.iter().collect();
        assert_eq!(frames.len, distinct.len());
    }

    #[test]
    fn a_slot_whose_first_hash_matches_is_not_trusted_without_the_second() {
        let mut frames = LabelFrames::default();
        let mut builder = ProfileBuilder::default();
        let other = frames.intern(&mut builder, "other (x.py:1)").unwrap();
        // A slot of `other` planted where `wanted` would be, with its first hash.
        let wanted = "wanted (x.py:2)";
        let (first, second) = frames.hash(wanted);
        let mask = frames.slots.len() - 1;
        let mut s = first as usize & mask;
        while frames.slots[s][1] != 0 {
            s = (s + 1) & mask;
        }
        let wrong = !second & 0xffff_ffff_0000_0000;
        frames.slots[s] = [first, wrong | (u64::from(other) + 1)];
        frames.len += 1;
        let mut found = Vec::new();
        intern_batch(&mut frames, &mut builder, wanted, &[(0, 15)], &mut found);
        let mut again = Vec::new();
        intern_batch(&mut frames, &mut builder, wanted, &[(0, 15)], &mut again);
        assert_ne!(found[0], other);
        assert_eq!(found, again);
        assert_eq!(frames.intern(&mut builder, wanted).unwrap(), found[0]);
    }

    #[test]
    fn labels_that_differ_in_one_byte_are_different_frames() {
        let mut frames = LabelFrames::default();
        let mut builder = ProfileBuilder::default();
        let all: Vec<String> = (0..50_000).map(|i| format!("f (m.py:{i})")).collect();
        let ids: Vec<FrameId> = all
            .iter()
            .map(|l| frames.intern(&mut builder, l).unwrap())
            .collect();
        let distinct: std::collections::HashSet<&FrameId> = ids.iter().collect();
        assert_eq!(distinct.len(), all.len());
        let again: Vec<FrameId> = all
            .iter()
            .map(|l| frames.intern(&mut builder, l).unwrap())
            .collect();
        assert_eq!(ids, again);
    }
}
