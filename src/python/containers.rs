//! Names and attributes that hold a builtin container: `seen = set()`, `self.hash_set = set()`,
//! `counts = defaultdict(int)`.
//!
//! An operation's class depends on what it works on. `self.hash_set.add(h)` hashes one key
//! ([`super::ops::Op::Lookup`]) even in a file whose own classes define an `add` method, where
//! `self.empties.add(pos)` on such a class is a Python call; `counts[word]` on a dict hashes a
//! key where `grid[r][c]` on lists reads an element ([`super::ops::Op::Index`]). Read from the
//! syntax alone, one of each pair is mispriced by up to a hundred times. A name or attribute
//! holds a container of one kind only when every assignment to it makes one of that kind: a
//! function's name by the function's own assignments (by the module's, `CACHE = {}`, when the
//! function binds it nowhere), an attribute by every assignment to an attribute of that name in
//! the file. Any other binding (a parameter, a loop variable, another value) leaves it unknown,
//! and the syntax decides as before.

use std::collections::{HashMap, HashSet};

use rustpython_ruff_python_ast::visitor::{self, Visitor};
use rustpython_ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};

/// A kind of builtin container, as far as pricing its operations goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// Lists, tuples, deques, bytearrays: a subscript reads an element.
    Sequence,
    /// Dicts: a subscript hashes a key.
    Mapping,
    Set,
}

/// What the assignments of one scope bind.
#[derive(Debug, Default)]
pub(super) struct Containers {
    /// Attribute names (`hash_set` of `self.hash_set`), with the kind every assignment to an
    /// attribute of that name makes (`None` when they differ or one makes something else).
    attributes: HashMap<String, Option<Container>>,
    /// The names of the scope read (the module's, or the function's), likewise.
    names: HashMap<String, Option<Container>>,
    /// While reading: the names each function or class nested in that scope declares
    /// `global` or `nonlocal`, innermost last. Its other names are its own, not the scope's.
    nested: Vec<HashSet<String>>,
}

impl Containers {
    /// Reads a module: the attributes every assignment in it gives, nested functions and
    /// classes included, and the names its own statements bind (a function's `global`
    /// declaration makes its assignments the module's).
    pub(super) fn of(body: &[Stmt]) -> Containers {
        let mut found = Containers::default();
        found.visit_body(body);
        found
    }

    /// Reads the assignments of one function: its parameters are no containers it made.
    pub(super) fn of_function(def: &ast::StmtFunctionDef) -> Containers {
        let mut found = Containers::default();
        for p in def.parameters.iter() {
            found.names.insert(p.name().as_str().to_owned(), None);
        }
        found.visit_body(&def.body);
        found
    }

    /// The container `receiver` (the `x` of `x.add(k)` or `x[k]`) holds: a name bound only to
    /// containers of one kind here (or, when this function binds it nowhere, in `module`), or
    /// an attribute of a name given only such containers in `module`.
    pub(super) fn held_by(&self, module: &Containers, receiver: &Expr) -> Option<Container> {
        match receiver {
            Expr::Name(n) => match self.names.get(n.id.as_str()) {
                Some(held) => *held,
                None => module.names.get(n.id.as_str()).copied().flatten(),
            },
            Expr::Attribute(a) => module.attributes.get(a.attr.as_str()).copied().flatten(),
            _ => None,
        }
    }

    /// Whether a binding of `name` here binds the scope's name, not a nested function's own.
    fn binds_scope_name(&self, name: &str) -> bool {
        self.nested
            .last()
            .is_none_or(|declared| declared.contains(name))
    }

    fn bind(&mut self, target: &Expr, made: Option<Container>) {
        let (map, key) = match target {
            Expr::Name(n) if !self.binds_scope_name(n.id.as_str()) => return,
            Expr::Name(n) => (&mut self.names, n.id.as_str()),
            Expr::Attribute(a) => (&mut self.attributes, a.attr.as_str()),
            _ => return,
        };
        let held = map.entry(key.to_owned()).or_insert(made);
        if *held != made {
            *held = None;
        }
    }
}

/// The builtin container evaluating `value` makes, if it makes one.
fn makes_container(value: &Expr) -> Option<Container> {
    match value {
        Expr::List(_) | Expr::ListComp(_) => Some(Container::Sequence),
        Expr::Set(_) | Expr::SetComp(_) => Some(Container::Set),
        Expr::Dict(_) | Expr::DictComp(_) => Some(Container::Mapping),
        Expr::Call(call) => {
            let name = match call.func.as_ref() {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) if matches!(&*a.value, Expr::Name(m) if m.id.as_str() == "collections") => {
                    a.attr.as_str()
                }
                _ => return None,
            };
            match name {
                "list" | "tuple" | "sorted" | "bytearray" | "deque" => Some(Container::Sequence),
                "set" | "frozenset" => Some(Container::Set),
                "dict" | "defaultdict" | "OrderedDict" => Some(Container::Mapping),
                _ => None,
            }
        }
        _ => None,
    }
}

impl<'a> Visitor<'a> for Containers {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(s) => {
                let made = makes_container(&s.value);
                for target in &s.targets {
                    match target {
                        Expr::Name(_) | Expr::Attribute(_) => {
                            self.bind(target, made);
                            if let Expr::Attribute(a) = target {
                                self.visit_expr(&a.value);
                            }
                        }
                        other => self.visit_expr(other),
                    }
                }
                self.visit_expr(&s.value);
            }
            Stmt::AnnAssign(s) => {
                let made = s.value.as_deref().and_then(makes_container);
                self.bind(&s.target, made);
                if let Some(value) = &s.value {
                    self.visit_expr(value);
                }
            }
            // `xs += [x]` and `seen |= other` keep what the name holds.
            Stmt::AugAssign(s) => self.visit_expr(&s.value),
            // A nested function's or class's names are its own; its parameters too.
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {
                self.nested.push(HashSet::new());
                visitor::walk_stmt(self, stmt);
                self.nested.pop();
            }
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                if let Some(declared) = self.nested.last_mut() {
                    declared.extend(names.iter().map(|n| n.as_str().to_owned()));
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            // Any other binding: a loop variable, a `with ... as`, an unpacking, a walrus.
            Expr::Name(n)
                if n.ctx == ExprContext::Store && self.binds_scope_name(n.id.as_str()) =>
            {
                self.names.insert(n.id.as_str().to_owned(), None);
            }
            Expr::Attribute(a) if a.ctx == ExprContext::Store => {
                self.attributes.insert(a.attr.as_str().to_owned(), None);
            }
            Expr::Named(n) => {
                self.bind(&n.target, makes_container(&n.value));
                self.visit_expr(&n.value);
                return;
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        visitor::walk_comprehension(self, comprehension);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustpython_ruff_python_parser::parse_module;

    fn receivers(source: &str, calls: &[&str]) -> Vec<Option<Container>> {
        let parsed = parse_module(source).unwrap();
        let body = &parsed.syntax().body;
        let module = Containers::of(body);
        // The calls are read as `Board.reset`'s.
        let Stmt::ClassDef(board) = &body[1] else {
            panic!("Board")
        };
        let Stmt::FunctionDef(reset) = &board.body[1] else {
            panic!("reset")
        };
        let function = Containers::of_function(reset);
        calls
            .iter()
            .map(|c| {
                let call = parse_module(c).unwrap();
                let Stmt::Expr(e) = &call.syntax().body[0] else {
                    panic!("{c}")
                };
                let Expr::Call(call) = e.value.as_ref() else {
                    panic!("{c}")
                };
                let Expr::Attribute(method) = call.func.as_ref() else {
                    panic!("{c}")
                };
                function.held_by(&module, &method.value)
            })
            .collect()
    }

    #[test]
    fn a_module_name_is_read_where_a_function_does_not_bind_it() {
        let source = concat!(
            "CACHE = {}\n",
            "SEEN = set()\n",
            "ORDER = []\n",
            "def reset():\n",
            "    global SEEN\n",
            "    SEEN = None\n",
            "    ORDER = 5\n", // a local of reset, not the module's ORDER
            "def use(CACHE2, key):\n",
            "    local = CACHE\n",
            "    ORDER = {}\n",
            "    return CACHE[key], ORDER[key]\n",
        );
        let parsed = parse_module(source).unwrap();
        let body = &parsed.syntax().body;
        let module = Containers::of(body);
        let Stmt::FunctionDef(def) = &body[4] else {
            panic!("use")
        };
        let function = Containers::of_function(def);
        let name = |n: &str| {
            let parsed = parse_module(n).unwrap();
            let Stmt::Expr(e) = &parsed.syntax().body[0] else {
                panic!("{n}")
            };
            function.held_by(&module, &e.value)
        };
        assert_eq!(name("CACHE"), Some(Container::Mapping));
        assert_eq!(name("SEEN"), None, "reset's global assignment");
        assert_eq!(name("ORDER"), Some(Container::Mapping), "use's own ORDER");
        assert_eq!(name("local"), None, "an alias is not followed");
        assert_eq!(name("CACHE2"), None, "a parameter");
        assert_eq!(module.names.get("ORDER"), Some(&Some(Container::Sequence)));
    }

    #[test]
    fn a_binding_that_is_always_a_container_holds_one() {
        use Container::*;
        let source = concat!(
            "import collections\n",
            "class Board:\n",
            "    def __init__(self):\n",
            "        self.hash_set = set()\n",
            "        self.empties = EmptySet(self)\n",
            "        self.seen: dict = {}\n",
            "        self.queue = collections.deque()\n",
            "        self.mixed = []\n",
            "    def reset(self, other):\n",
            "        self.mixed = other.squares\n",
            "        members = set()\n",
            "        rows = [r for r in other]\n",
            "        rows += [1]\n",
            "        for done in other:\n",
            "            pass\n",
            "        done = []\n",
        );
        assert_eq!(
            receivers(
                source,
                &[
                    "self.hash_set.add(h)",
                    "self.empties.add(p)",
                    "self.seen.get(k)",
                    "self.queue.append(k)",
                    "self.mixed.append(k)",
                    "members.add(k)",
                    "rows.append(k)",
                    "done.append(k)",
                    "other.add(k)",
                    "f().add(k)",
                ]
            ),
            [
                Some(Set),
                None,
                Some(Mapping),
                Some(Sequence),
                None,
                Some(Set),
                Some(Sequence),
                None,
                None,
                None
            ]
        );
    }
}
