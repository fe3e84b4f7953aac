//! Text that came from a profile, made safe to print: function, file, module and thread names
//! are whatever the tool that wrote the profile (or someone who edited it) put there, and a
//! terminal acts on some characters instead of showing them. An escape sequence in a name can
//! retitle the window, clear the screen or recolour the rest of the report; a bidi override
//! can make one name read as another.
//!
//! [`printable`] writes each such character out as text (`\x1b`, `\u{202e}`), so that names
//! that differ only by one still print differently. Every writer of terminal text (the advice
//! table, the summary, the comparison) and the Markdown report pass names through it; JSON and
//! HTML have their own escaping. Importers quote names in their error messages with it too,
//! so it sits below both `report` and `import` and depends on nothing else of ours.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal would act on, or that reorders what follows it,
/// written out as an escape:
/// - C0 controls (U+0000-U+001F, tab and newline included: a name is one line), DEL and the
///   C1 controls (U+0080-U+009F, among them U+009B, a one-character escape sequence on some
///   terminals) as `\x1b`;
/// - bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the bidi
///   marks (U+200E, U+200F, U+061C) as `\u{202e}`.
///
/// Text without them comes back borrowed. A backslash is left as it is: Windows paths stay
/// readable, at the price that a name spelling `\x1b` out prints like one holding ESC.
pub fn printable(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(needs_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if u32::from(c) <= 0xff {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_written_out() {
        assert!(matches!(printable("Parser.term"), Cow::Borrowed(_)));
        assert_eq!(printable("é ü 函数 λ"), "é ü 函数 λ");
        assert_eq!(printable("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(printable("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(printable("\0\t\n\r\x7f"), "\\x00\\x09\\x0a\\x0d\\x7f");
        assert_eq!(printable("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(printable("\u{85}"), "\\x85");
        assert_eq!(printable("evil\u{202e}txt.py"), "evil\\u{202e}txt.py");
        assert_eq!(
            printable("\u{202a}\u{202d}\u{2066}\u{2069}\u{200f}\u{61c}"),
            "\\u{202a}\\u{202d}\\u{2066}\\u{2069}\\u{200f}\\u{61c}"
        );
        // Names that differ by a control character still print differently.
        assert_ne!(printable("a\x1bb"), printable("a\x1cb"));
        assert_eq!(printable("C:\\app\\main.py"), "C:\\app\\main.py");
    }
}
