//! Python source as tokens, without a parser: the two lexers that must never fail on code
//! they do not know. [`statements`] joins physical lines into logical statements (brackets,
//! backslashes and triple-quoted strings continue one) for the block scanner
//! ([`super::blocks`]); [`code_of`] blanks the strings and cuts the comment of one line, for
//! the rules that recognise a native call on a sampled line ([`crate::rules`]).

/// One logical statement: its first physical line, its last, its indentation, and its text
/// with strings blanked and comments removed.
pub(super) struct Statement {
    pub(super) line: u32,
    pub(super) last_line: u32,
    pub(super) indent: usize,
    pub(super) text: String,
}

/// The logical statements of a source text, comment and blank lines left out. Never fails:
/// an unclosed bracket or string runs to the end of the text.
pub(super) fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut current: Option<Statement> = None;
    let mut depth: i32 = 0;
    let mut in_triple: Option<char> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i as u32 + 1;
        let continuing = current.is_some();
        if !continuing {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = raw[..raw.len() - trimmed.len()]
                .chars()
                .map(|c| if c == '\t' { 8 } else { 1 })
                .sum();
            current = Some(Statement {
                line: lineno,
                last_line: lineno,
                indent,
                text: String::new(),
            });
        }
        let stmt = current.as_mut().expect("statement just started");
        stmt.last_line = lineno;
        let mut chars = raw.chars().peekable();
        let mut backslash = false;
        while let Some(c) = chars.next() {
            backslash = false;
            if let Some(q) = in_triple {
                if c == '\\' {
                    chars.next();
                } else if c == q && chars.peek() == Some(&q) {
                    chars.next();
                    if chars.peek() == Some(&q) {
                        chars.next();
                        in_triple = None;
                    }
                }
                continue;
            }
            match c {
                '#' => break,
                '\'' | '"' => {
                    let mut look = chars.clone();
                    if look.next() == Some(c) && look.next() == Some(c) {
                        chars.next();
                        chars.next();
                        in_triple = Some(c);
                        stmt.text.push_str("\"\"");
                        continue;
                    }
                    // A one-line string: skip to its closing quote.
                    while let Some(d) = chars.next() {
                        if d == '\\' {
                            chars.next();
                        } else if d == c {
                            break;
                        }
                    }
                    stmt.text.push_str("\"\"");
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    stmt.text.push(c);
                }
                ')' | ']' | '}' => {
                    depth = (depth - 1).max(0);
                    stmt.text.push(c);
                }
                '\\' if chars.peek().is_none() => backslash = true,
                _ => stmt.text.push(c),
            }
        }
        stmt.text.push(' ');
        if in_triple.is_none() && depth == 0 && !backslash {
            out.push(current.take().expect("statement in progress"));
        }
    }
    out.extend(current);
    out
}

pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The line with string literal contents blanked (quotes kept, so `", ".join(` still reads
/// as a method call) and a `#` comment cut. A line inside a multi-line string cannot be told
/// from code without the lines before it; callers pass single lines, so that case is accepted.
pub fn code_of(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    // The open string's quote character and how many of it close it (1 or 3).
    let mut open: Option<(char, usize)> = None;
    let closes = |i: usize, q: char, n: usize| (0..n).all(|k| chars.get(i + k) == Some(&q));
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match open {
            None if c == '#' => break,
            None if c == '"' || c == '\'' => {
                let n = if closes(i, c, 3) { 3 } else { 1 };
                out.extend(std::iter::repeat_n(c, n));
                open = Some((c, n));
                i += n;
                continue;
            }
            None => out.push(c),
            Some(_) if c == '\\' => {
                // An escape hides the next character, even a quote (in raw strings too).
                out.push_str("  ");
                i += 2;
                continue;
            }
            Some((q, n)) if closes(i, q, n) => {
                out.extend(std::iter::repeat_n(q, n));
                open = None;
                i += n;
                continue;
            }
            Some(_) => out.push(' '),
        }
        i += 1;
    }
    out
}
