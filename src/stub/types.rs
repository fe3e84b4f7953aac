//! Python types as a PyO3 port sees them: read from an annotation (parsed as a Python
//! expression) or from the type name the probe observed, and spelled in Rust, in a `.pyi`
//! stub, and as the semantic traps a port must mind.

use rustpython_ruff_python_ast::{Expr, Operator};

/// A Python type, as far as a signature needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyType {
    Int,
    Float,
    Bool,
    Str,
    Bytes,
    None,
    List(Box<PyType>),
    /// A tuple read as a sequence of one element type.
    Tuple(Box<PyType>),
    Dict(Box<PyType>, Box<PyType>),
    Set(Box<PyType>),
    Optional(Box<PyType>),
    /// A one-dimensional numpy array of this dtype (`float64`, `int64`, ...).
    Array(String),
    /// Anything else, as written (a class of the program, `Callable`, a union).
    Object(String),
}

impl PyType {
    /// The type an annotation names; what cannot be mapped is an object.
    pub fn from_annotation(text: &str) -> PyType {
        match rustpython_ruff_python_parser::parse_expression(text) {
            Ok(parsed) => from_expr(&parsed.syntax().body, text),
            Err(_) => PyType::Object(text.to_owned()),
        }
    }

    /// The type the probe observed, in its spelling: `list[float]`, `dict[str, int]`,
    /// `numpy.ndarray[float64]`, `NoneType`, `__main__.Point`.
    pub fn from_observed(name: &str) -> PyType {
        if let Some(dtype) = name
            .strip_prefix("numpy.ndarray[")
            .and_then(|r| r.strip_suffix(']'))
        {
            return PyType::Array(dtype.to_owned());
        }
        match name {
            "NoneType" => PyType::None,
            "list" | "tuple" | "set" | "frozenset" | "dict" => {
                PyType::from_annotation(&format!("{name}[object]"))
            }
            _ => PyType::from_annotation(name),
        }
    }

    /// The Rust type of a `#[pyfunction]` parameter. A `str` or `bytes` argument is borrowed
    /// (`&str`, `&[u8]`), as `rules/costs.toml` measured its crossing: `String` and `Vec<u8>`
    /// would copy it.
    pub fn rust_arg(&self) -> String {
        match self {
            PyType::Str => "&str".into(),
            PyType::Bytes => "&[u8]".into(),
            PyType::Optional(t) => format!("Option<{}>", t.rust_arg()),
            PyType::Array(dtype) => format!("PyReadonlyArray1<'py, {}>", rust_dtype(dtype)),
            PyType::Object(_) => "Bound<'py, PyAny>".into(),
            other => other.rust_owned(),
        }
    }

    /// The Rust type of a return value.
    pub fn rust_return(&self) -> String {
        match self {
            PyType::Array(dtype) => format!("Bound<'py, PyArray1<{}>>", rust_dtype(dtype)),
            PyType::Optional(t) => format!("Option<{}>", t.rust_return()),
            other => other.rust_owned(),
        }
    }

    /// An owned Rust type (no borrow, no lifetime): inside a container, or returned.
    fn rust_owned(&self) -> String {
        match self {
            PyType::Int => "i64".into(),
            PyType::Float => "f64".into(),
            PyType::Bool => "bool".into(),
            PyType::Str => "String".into(),
            PyType::Bytes => "Vec<u8>".into(),
            PyType::None => "()".into(),
            PyType::List(t) | PyType::Tuple(t) => format!("Vec<{}>", t.rust_owned()),
            PyType::Dict(k, v) => format!("HashMap<{}, {}>", k.rust_owned(), v.rust_owned()),
            PyType::Set(t) => format!("HashSet<{}>", t.rust_owned()),
            PyType::Optional(t) => format!("Option<{}>", t.rust_owned()),
            PyType::Array(_) | PyType::Object(_) => "Py<PyAny>".into(),
        }
    }

    /// The type in a `.pyi` stub.
    pub fn pyi(&self) -> String {
        match self {
            PyType::Int => "int".into(),
            PyType::Float => "float".into(),
            PyType::Bool => "bool".into(),
            PyType::Str => "str".into(),
            PyType::Bytes => "bytes".into(),
            PyType::None => "None".into(),
            PyType::List(t) => format!("list[{}]", t.pyi()),
            PyType::Tuple(t) => format!("tuple[{}, ...]", t.pyi()),
            PyType::Dict(k, v) => format!("dict[{}, {}]", k.pyi(), v.pyi()),
            PyType::Set(t) => format!("set[{}]", t.pyi()),
            PyType::Optional(t) => format!("{} | None", t.pyi()),
            PyType::Array(dtype) => format!("numpy.typing.NDArray[numpy.{dtype}]"),
            PyType::Object(_) => "typing.Any".into(),
        }
    }

    /// Whether the signature borrows from the Python side (`'py`).
    pub fn needs_py_lifetime(&self) -> bool {
        match self {
            PyType::Array(_) | PyType::Object(_) => true,
            PyType::Optional(t) => t.needs_py_lifetime(),
            _ => false,
        }
    }

    pub fn needs_numpy(&self) -> bool {
        match self {
            PyType::Array(_) => true,
            PyType::Optional(t) => t.needs_numpy(),
            _ => false,
        }
    }

    /// The semantic differences between the Python type and its Rust spelling.
    pub fn traps(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        self.collect_traps(&mut out);
        out.dedup();
        out
    }

    fn collect_traps(&self, out: &mut Vec<&'static str>) {
        match self {
            PyType::Int => out.push(
                "Python ints are unbounded; i64 overflows past 2**63 (use num-bigint if values \
                 can grow that large)",
            ),
            PyType::Float => out.push(
                "float formatting and rounding differ between Python and Rust (repr, round() \
                 is banker's rounding in Python)",
            ),
            PyType::Str => out.push(
                "len(str) counts code points; Rust's String::len counts UTF-8 bytes (use \
                 .chars().count())",
            ),
            PyType::Dict(k, v) => {
                out.push(
                    "dicts keep insertion order; HashMap does not (use indexmap::IndexMap if \
                     order matters)",
                );
                k.collect_traps(out);
                v.collect_traps(out);
            }
            PyType::List(t) | PyType::Tuple(t) | PyType::Set(t) | PyType::Optional(t) => {
                t.collect_traps(out)
            }
            _ => {}
        }
    }
}

fn rust_dtype(dtype: &str) -> &'static str {
    match dtype {
        "float32" => "f32",
        "int64" => "i64",
        "int32" => "i32",
        "uint8" => "u8",
        "bool" => "bool",
        _ => "f64",
    }
}

fn from_expr(expr: &Expr, text: &str) -> PyType {
    match expr {
        Expr::NoneLiteral(_) => PyType::None,
        Expr::StringLiteral(s) => PyType::from_annotation(s.value.to_str()),
        Expr::Name(n) => named(n.id.as_str(), None, text),
        Expr::Attribute(a) => {
            // `typing.List`, `np.ndarray`: the last component names it.
            named(a.attr.as_str(), None, text)
        }
        Expr::Subscript(s) => {
            let base = match s.value.as_ref() {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) => a.attr.as_str(),
                _ => return PyType::Object(text.to_owned()),
            };
            let args: Vec<&Expr> = match s.slice.as_ref() {
                Expr::Tuple(t) => t.elts.iter().collect(),
                other => vec![other],
            };
            named(base, Some(&args), text)
        }
        Expr::BinOp(b) if b.op == Operator::BitOr => {
            let (l, r) = (from_expr(&b.left, text), from_expr(&b.right, text));
            match (l, r) {
                (PyType::None, t) | (t, PyType::None) => PyType::Optional(Box::new(t)),
                _ => PyType::Object(text.to_owned()),
            }
        }
        _ => PyType::Object(text.to_owned()),
    }
}

fn named(name: &str, args: Option<&[&Expr]>, text: &str) -> PyType {
    let arg = |i: usize| -> PyType {
        args.and_then(|a| a.get(i))
            .map(|e| from_expr(e, text))
            .unwrap_or_else(|| PyType::Object("object".into()))
    };
    match (name, args.map(<[&Expr]>::len)) {
        ("int", None) => PyType::Int,
        ("float", None) => PyType::Float,
        ("bool", None) => PyType::Bool,
        ("str", None) => PyType::Str,
        ("bytes" | "bytearray", None) => PyType::Bytes,
        ("None" | "NoneType", None) => PyType::None,
        ("list" | "List" | "Sequence" | "Iterable", _) => PyType::List(Box::new(arg(0))),
        ("tuple" | "Tuple", _) => PyType::Tuple(Box::new(arg(0))),
        ("set" | "Set" | "frozenset" | "FrozenSet", _) => PyType::Set(Box::new(arg(0))),
        ("dict" | "Dict" | "Mapping", _) => PyType::Dict(Box::new(arg(0)), Box::new(arg(1))),
        ("Optional", Some(1)) => PyType::Optional(Box::new(arg(0))),
        ("ndarray" | "NDArray", _) => PyType::Array(
            args.and_then(|a| a.first())
                .map(|e| dtype_of(e))
                .unwrap_or_else(|| "float64".into()),
        ),
        ("float64" | "int64" | "float32" | "int32" | "uint8", None) => {
            PyType::Array(name.to_owned())
        }
        _ => PyType::Object(text.to_owned()),
    }
}

/// The dtype named inside `NDArray[np.float64]` (or an observed `float64`).
fn dtype_of(expr: &Expr) -> String {
    match expr {
        Expr::Name(n) => n.id.to_string(),
        Expr::Attribute(a) => a.attr.to_string(),
        _ => "float64".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(annotation: &str) -> String {
        PyType::from_annotation(annotation).rust_arg()
    }

    #[test]
    fn annotations_map_to_rust_types() {
        assert_eq!(rust("int"), "i64");
        assert_eq!(rust("list[float]"), "Vec<f64>");
        assert_eq!(rust("List[List[float]]"), "Vec<Vec<f64>>");
        assert_eq!(rust("dict[str, int]"), "HashMap<String, i64>");
        assert_eq!(rust("Optional[str]"), "Option<&str>");
        assert_eq!(rust("str | None"), "Option<&str>");
        // Borrowed, as costs.toml measured them; owned inside containers and when returned.
        assert_eq!(rust("str"), "&str");
        assert_eq!(rust("bytes"), "&[u8]");
        assert_eq!(rust("list[str]"), "Vec<String>");
        assert_eq!(PyType::from_annotation("str").rust_return(), "String");
        assert_eq!(PyType::from_annotation("bytes").rust_return(), "Vec<u8>");
        assert_eq!(
            rust("npt.NDArray[np.float64]"),
            "PyReadonlyArray1<'py, f64>"
        );
        assert_eq!(rust("Point"), "Bound<'py, PyAny>");
        assert_eq!(rust("'Point'"), "Bound<'py, PyAny>");
    }

    #[test]
    fn observed_names_map_like_annotations() {
        assert_eq!(PyType::from_observed("list[float]").rust_arg(), "Vec<f64>");
        assert_eq!(
            PyType::from_observed("numpy.ndarray[float64]").rust_return(),
            "Bound<'py, PyArray1<f64>>"
        );
        assert_eq!(PyType::from_observed("NoneType"), PyType::None);
        assert_eq!(
            PyType::from_observed("__main__.Point").rust_arg(),
            "Bound<'py, PyAny>"
        );
    }

    #[test]
    fn traps_follow_the_types() {
        let t = PyType::from_annotation("dict[str, int]").traps();
        assert!(t.iter().any(|s| s.contains("insertion order")));
        assert!(t.iter().any(|s| s.contains("code points")));
        assert!(t.iter().any(|s| s.contains("unbounded")));
    }
}
