//! The operations a line of Python executes, by class: what a port's speedup depends on. Float
//! arithmetic in a loop runs tens of times faster compiled (no boxing, no dispatch per
//! operation); a dict lookup or a string join is already C inside CPython and gains a few
//! times at most. The parser counts each line's operations from its syntax tree
//! ([`super::parser::Features::line_ops`]); the advice weighs them by the time the sampler
//! measured on each line and prices each class (`rules/scoring.toml`, `[operations]`).

use serde::Serialize;

/// A class of operations priced alike, on CPython and in a faithful Rust port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Binary and unary arithmetic, augmented assignments.
    Arithmetic,
    /// `<`, `==`, `is` and the like (`in` is a lookup).
    Compare,
    /// Subscripts: `a[i]`, `a[i] = x` (of a dict the assignments show, a [`Op::Lookup`]).
    Index,
    /// Attribute loads and stores: `self.x`, `p.x = 1`, a method's lookup.
    Attribute,
    /// Calls of Python functions and methods, and of classes.
    Call,
    /// Calls, by name, of a small function of the same module that calls no Python function
    /// and has no loop (`a(i, j)` of `def a(i, j): return 1.0 / (i + j + 1)`): ported along
    /// with its caller, the compiler inlines it and the call's own cost is gone.
    InlinedCall,
    /// Calls of builtins (`len`, `abs`, `range`) and of the methods of builtin containers
    /// (`append`, `extend`, `pop`).
    BuiltinCall,
    /// Lists, tuples, dicts and sets built (displays, comprehensions, `list(...)`, `sorted(...)`
    /// and the other constructors).
    Build,
    /// Slices read or assigned (`a[i:j]`, `a[::-1]`, `a[:k] = b`): a run of elements copied in
    /// one C loop, where a port copies machine values or reverses them in place.
    Slice,
    /// `in` and `not in` tests (dict, set and sequence lookups), the dict and set methods that
    /// hash one key (`get`, `add`, `setdefault`, `discard`), and subscripts of a name or
    /// attribute only dicts are assigned to (`counts[w] += 1`): hashing that a port's
    /// `HashMap` or `HashSet` does too.
    Lookup,
    /// String building and string methods: f-strings, `%` formatting, `.join()`, `.split()`.
    Text,
    /// The steps of `for` and `while` loops and of comprehensions.
    Iterate,
    /// Assignments to names: what is left of a line that does nothing else.
    Store,
}

/// How many classes there are.
pub const OP_CLASSES: usize = 13;

/// Every class, in the order of [`OpCounts`].
pub const ALL: [Op; OP_CLASSES] = [
    Op::Arithmetic,
    Op::Compare,
    Op::Index,
    Op::Attribute,
    Op::Call,
    Op::InlinedCall,
    Op::BuiltinCall,
    Op::Build,
    Op::Slice,
    Op::Lookup,
    Op::Text,
    Op::Iterate,
    Op::Store,
];

/// One line's operations, counted per class in the order of [`ALL`].
pub type OpCounts = [u32; OP_CLASSES];

impl Op {
    /// The key of its prices in `rules/scoring.toml` and its name in report.json.
    pub fn key(self) -> &'static str {
        match self {
            Op::Arithmetic => "arithmetic",
            Op::Compare => "compare",
            Op::Index => "index",
            Op::Attribute => "attribute",
            Op::Call => "call",
            Op::InlinedCall => "inlined_call",
            Op::BuiltinCall => "builtin_call",
            Op::Build => "build",
            Op::Slice => "slice",
            Op::Lookup => "lookup",
            Op::Text => "text",
            Op::Iterate => "iterate",
            Op::Store => "store",
        }
    }

    /// As a sentence names it.
    pub fn describe(self) -> &'static str {
        match self {
            Op::Arithmetic => "arithmetic",
            Op::Compare => "comparisons",
            Op::Index => "indexing",
            Op::Attribute => "attribute access",
            Op::Call => "Python calls",
            Op::InlinedCall => "calls of small functions",
            Op::BuiltinCall => "builtin calls",
            Op::Build => "building containers",
            Op::Slice => "slices",
            Op::Lookup => "dict and set lookups",
            Op::Text => "string work",
            Op::Iterate => "loop steps",
            Op::Store => "assignments",
        }
    }

    pub fn index(self) -> usize {
        ALL.iter().position(|&o| o == self).unwrap_or(0)
    }
}

/// Builtins whose calls run C code: a call of one of these names is a [`Op::BuiltinCall`].
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bool",
    "bytearray",
    "bytes",
    "chr",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "ord",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "zip",
];

/// Builtins that build a container from an iterable: a call of `set(...)` is a [`Op::Build`],
/// as a set display is (it allocates, and hashes or sorts every item), not a cheap
/// [`Op::BuiltinCall`] such as `len(x)`, which a port compiles to a field read.
pub const CONTAINER_CONSTRUCTORS: &[&str] = &[
    "bytearray",
    "dict",
    "frozenset",
    "list",
    "set",
    "sorted",
    "tuple",
];

/// Methods of dicts and sets that hash one key: a call of `d.get(k)` is a [`Op::Lookup`], as
/// `k in d` is.
pub const HASHING_METHODS: &[&str] = &["get", "add", "setdefault", "discard"];

/// Methods of builtin containers: a call of `x.append(...)` and the like is a
/// [`Op::BuiltinCall`] (string methods are [`Op::Text`], hashing ones [`Op::Lookup`]).
pub const CONTAINER_METHODS: &[&str] = &[
    "append",
    "clear",
    "copy",
    "extend",
    "insert",
    "items",
    "keys",
    "pop",
    "popleft",
    "appendleft",
    "remove",
    "reverse",
    "sort",
    "update",
    "values",
];
