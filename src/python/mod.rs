//! Everything that reads Python source and Python paths, for every stage that needs it:
//!
//! - `source` reads a program's files, only as bounded regular files under the folders a
//!   profile allows, and caches each file read and parsed once ([`source::SourceCache`]);
//! - `parser` describes a file's functions with a real Python parser (extents, qualified
//!   names, signatures, what their bodies do, the operations of each line: `ops`, with the
//!   names that hold builtin containers: `containers`, and the float recurrences of its
//!   loops: `chains`);
//! - `lexer` and `blocks` read source without a parser, never failing: the block scanner that
//!   names sampled frames ([`blocks::enrich`]) and the line lexer the rules use to find a
//!   native call on a sampled line;
//! - `paths` answers what a path alone tells: installed package, standard library or program
//!   ([`paths::origin`]), the module's dotted name, the script of a command line.
//!
//! It depends on `profile` only (to name a profile's frames), decides nothing about advice, and
//! is told by its callers which folders may be read (`trust` decides that).

pub mod blocks;
pub mod chains;
mod containers;
pub mod lexer;
pub mod ops;
pub mod parser;
pub mod paths;
pub mod source;
