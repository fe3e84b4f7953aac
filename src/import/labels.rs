//! Frames interned by label, for the parsers of formats that name frames by strings.
//!
//! A fleet's file names hundreds of thousands of distinct frames, far more than the cache
//! holds, and every frame of every line is looked up. Looked up one after the other, each
//! lookup reads a slot, then a label, from anywhere in memory, and the processor mostly waits
//! on those reads (a hash map of boxed strings took about 190 ns a frame on a file of a
//! million stacks and 400,000 labels). So the frames of many lines are looked up together
//! ([`LabelFrames::intern_batch`]), a step at a time for all of them: hash every label, read
//! every slot, read every candidate's record, compare. The reads of one step do not depend
//! on one another, so they overlap. What no slot held (a label seen for the first time) is
//! then looked up and added one by one, in the file's order, so that frames are numbered in
//! the order they first appear.
//!
//! The labels are kept in one buffer of 8-byte words, each as a record: its length and its
//! frame in one word, then its bytes, zero-padded. A slot holds the high half of its label's
//! hash beside where the label's record starts.

use std::hash::BuildHasher;

use super::frame_from_label;
use crate::profile::{FrameId, ProfileBuilder};

#[derive(Debug)]
pub struct LabelFrames {
    /// Records of 8-byte words: length (low 32 bits) and frame (high 32 bits), then the bytes.
    records: Vec<u64>,
    /// 0 when empty, else the hash's high 32 bits above 1 + the record's first word.
    slots: Vec<u64>,
    /// Labels interned, at most half the slots.
    len: usize,
    hasher: foldhash::fast::FixedState,
    /// Scratch of a batch, kept from batch to batch.
    hashes: Vec<u64>,
    found: Vec<u32>,
}

impl Default for LabelFrames {
    fn default() -> LabelFrames {
        LabelFrames {
            records: Vec::new(),
            slots: vec![0; 1 << 12],
            len: 0,
            hasher: foldhash::fast::FixedState::default(),
            hashes: Vec::new(),
            found: Vec::new(),
        }
    }
}

/// The most words the records may take (32 GiB): a slot holds a word index in 32 bits.
const MAX_RECORD_WORDS: usize = u32::MAX as usize - 1;

/// Frames whose lookups go step by step together: enough for their reads to overlap, few
/// enough for what they read to stay in the cache until compared.
const CHUNK: usize = 2048;

/// `found` for a frame whose label no slot held.
const NOT_FOUND: u32 = u32::MAX;

/// Why a label cannot be added.
pub const TOO_MANY_LABELS: &str =
    "the frames' names take more than 32 GiB: not a profile port-advisor can hold";

impl LabelFrames {
    /// The frame of one label.
    pub fn intern(
        &mut self,
        builder: &mut ProfileBuilder,
        label: &str,
    ) -> Result<FrameId, &'static str> {
        let hash = self.hash(label);
        self.grow_for(1);
        self.lookup_or_add(builder, label, hash)
    }

    /// The frame of `text[at..at + len]` for each span, in order, into `out`: the same frames
    /// as [`intern`](Self::intern) on each in turn, found faster when there are many.
    pub fn intern_batch(
        &mut self,
        builder: &mut ProfileBuilder,
        text: &str,
        spans: &[(u32, u32)],
        out: &mut Vec<FrameId>,
    ) -> Result<(), &'static str> {
        let label = |i: usize| {
            let (at, len) = spans[i];
            &text[at as usize..(at + len) as usize]
        };
        let mut hashes = std::mem::take(&mut self.hashes);
        let mut found = std::mem::take(&mut self.found);
        out.clear();
        out.resize(spans.len(), 0);
        for start in (0..spans.len()).step_by(CHUNK) {
            let chunk = start..(start + CHUNK).min(spans.len());
            // Grown before the chunk, not during it: the slots read for it stay where they are.
            self.grow_for(chunk.len());
            hashes.clear();
            hashes.extend(chunk.clone().map(|i| self.hash(label(i))));
            // Each step reads from memory for every frame before the next step uses what it
            // read: the reads of a step do not wait on one another.
            let mask = self.slots.len() - 1;
            found.clear();
            found.extend(hashes.iter().map(|&h| {
                let mut s = h as usize & mask;
                loop {
                    let slot = self.slots[s];
                    if slot == 0 {
                        break NOT_FOUND;
                    }
                    if slot >> 32 == h >> 32 {
                        break slot as u32 - 1;
                    }
                    s = (s + 1) & mask;
                }
            }));
            let heads = found
                .iter()
                .filter(|&&w| w != NOT_FOUND)
                .map(|&w| self.records[w as usize])
                .fold(0u64, u64::wrapping_add);
            std::hint::black_box(heads);
            for (k, word) in found.iter_mut().enumerate() {
                if *word != NOT_FOUND {
                    match self.frame_at(*word as usize, label(start + k)) {
                        Some(frame) => out[start + k] = frame,
                        None => *word = NOT_FOUND,
                    }
                }
            }
            // New labels, and the rare slot whose hash half matched another label's: looked
            // up whole, in order.
            for (k, &word) in found.iter().enumerate() {
                if word == NOT_FOUND {
                    out[start + k] = self.lookup_or_add(builder, label(start + k), hashes[k])?;
                }
            }
        }
        self.hashes = hashes;
        self.found = found;
        Ok(())
    }

    fn hash(&self, label: &str) -> u64 {
        self.hasher.hash_one(label.as_bytes())
    }

    /// Room for `more` labels with the slots at most half full.
    fn grow_for(&mut self, more: usize) {
        while (self.len + more) * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// The frame of `label`, added when new: a lookup that compares every candidate.
    fn lookup_or_add(
        &mut self,
        builder: &mut ProfileBuilder,
        label: &str,
        hash: u64,
    ) -> Result<FrameId, &'static str> {
        let mask = self.slots.len() - 1;
        let mut s = hash as usize & mask;
        loop {
            let slot = self.slots[s];
            if slot == 0 {
                return self.add(builder, label, hash, s);
            }
            if slot >> 32 == hash >> 32 {
                if let Some(frame) = self.frame_at((slot as u32 - 1) as usize, label) {
                    return Ok(frame);
                }
            }
            s = (s + 1) & mask;
        }
    }

    /// The frame of the record at `word` when its label is `label`.
    fn frame_at(&self, word: usize, label: &str) -> Option<FrameId> {
        let head = self.records[word];
        let len = (head & 0xffff_ffff) as usize;
        if len != label.len() {
            return None;
        }
        let words = &self.records[word + 1..word + 1 + len.div_ceil(8)];
        let same = label
            .as_bytes()
            .chunks(8)
            .zip(words)
            .all(|(chunk, &w)| word_of(chunk) == w);
        same.then_some((head >> 32) as FrameId)
    }

    fn add(
        &mut self,
        builder: &mut ProfileBuilder,
        label: &str,
        hash: u64,
        slot: usize,
    ) -> Result<FrameId, &'static str> {
        let word = self.records.len();
        if word + 1 + label.len().div_ceil(8) > MAX_RECORD_WORDS {
            return Err(TOO_MANY_LABELS);
        }
        let frame = builder.intern_frame(frame_from_label(label));
        self.records
            .push(label.len() as u64 | u64::from(frame) << 32);
        self.records.extend(label.as_bytes().chunks(8).map(word_of));
        self.slots[slot] = (hash >> 32) << 32 | (word as u64 + 1);
        self.len += 1;
        Ok(frame)
    }

    /// Twice the slots, every label placed again by its hash.
    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        let mut word = 0;
        let mut bytes = Vec::new();
        while word < self.records.len() {
            let len = (self.records[word] & 0xffff_ffff) as usize;
            bytes.clear();
            bytes.extend(
                self.records[word + 1..word + 1 + len.div_ceil(8)]
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .take(len),
            );
            let hash = self.hasher.hash_one(&bytes[..]);
            let mut s = hash as usize & mask;
            while slots[s] != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = (hash >> 32) << 32 | (word as u64 + 1);
            word += 1 + len.div_ceil(8);
        }
        self.slots = slots;
    }
}

/// Up to 8 bytes as a little-endian word, zero-padded.
fn word_of(chunk: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(chunk) {
        Ok(full) => u64::from_le_bytes(full),
        Err(_) => chunk.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            frames
                .intern_batch(&mut batched, &text, &spans, &mut out)
                .unwrap();
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
    fn a_slot_whose_hash_half_matches_is_not_trusted_without_its_label() {
        let mut frames = LabelFrames::default();
        let mut builder = ProfileBuilder::default();
        let other = frames.intern(&mut builder, "other (x.py:1)").unwrap();
        // A record of another label planted where `wanted` would be, with its hash half.
        let wanted = "wanted (x.py:2)";
        let hash = frames.hash(wanted);
        let word = frames.records.len();
        frames.records.push(3 | u64::from(other) << 32);
        frames.records.push(word_of(b"zzz"));
        let mask = frames.slots.len() - 1;
        let mut s = hash as usize & mask;
        while frames.slots[s] != 0 {
            s = (s + 1) & mask;
        }
        frames.slots[s] = (hash >> 32) << 32 | (word as u64 + 1);
        frames.len += 1;
        let mut first = Vec::new();
        frames
            .intern_batch(&mut builder, wanted, &[(0, 15)], &mut first)
            .unwrap();
        let mut again = Vec::new();
        frames
            .intern_batch(&mut builder, wanted, &[(0, 15)], &mut again)
            .unwrap();
        assert_ne!(first[0], other);
        assert_eq!(first, again);
        assert_eq!(frames.intern(&mut builder, wanted).unwrap(), first[0]);
    }
}
