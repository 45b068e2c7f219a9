//! Rules shared by the checks of what members and assessors type: answers, comments, plans.
//!
//! Text typed into a submission is shown later to assessors, in pages and in reminder mail, so
//! it is refused here when it could hide or reorder what a reader sees (control characters,
//! bidirectional overrides), and any of it echoed back in a problem is clipped so one hostile
//! value cannot flood a response or a log.

/// How many characters of a value a problem echoes back.
pub(crate) const ECHO_CHARS: usize = 60;

/// The first [`ECHO_CHARS`] characters of `value`, with `…` when clipped, for showing with
/// `{:?}` in a problem.
pub(crate) fn clip(value: &str) -> String {
    let mut chars = value.char_indices();
    match chars.nth(ECHO_CHARS) {
        None => value.to_owned(),
        Some((at, _)) => format!("{}…", &value[..at]),
    }
}

/// A bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069): they make
/// text display in an order other than the one it is stored in.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks free text a person typed: at most `max` characters, no control characters other
/// than tab and newline (a carriage return only as part of a CR LF line end, as browsers send
/// it), no bidirectional overrides. `what` names the control and field, e.g. `coco-3: the
/// improvement plan`.
pub(crate) fn check_free_text(what: &str, value: &str, max: usize, problems: &mut Vec<String>) {
    let count = value.chars().count();
    if count > max {
        problems.push(format!(
            "{what} is {count} characters long; at most {max} are allowed"
        ));
    }
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        let lone_cr = c == '\r' && chars.peek() != Some(&'\n');
        if lone_cr || (c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
            problems.push(format!(
                "{what} contains a control character (U+{:04X}); only tabs and line breaks are allowed",
                u32::from(c)
            ));
            return;
        }
        if is_bidi_control(c) {
            problems.push(format!(
                "{what} contains a character that reverses how text is displayed (U+{:04X})",
                u32::from(c)
            ));
            return;
        }
    }
}

/// Whether `value` is missing or only white space.
pub(crate) fn is_blank(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_not_bytes() {
        let long = "é".repeat(100);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), ECHO_CHARS + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"x".repeat(ECHO_CHARS)), "x".repeat(ECHO_CHARS));
    }

    #[test]
    fn free_text_rules() {
        let check = |v: &str| {
            let mut p = Vec::new();
            check_free_text("coco-1: the note", v, 10, &mut p);
            p
        };
        assert!(check("a\tb\nc\r\nd").is_empty());
        assert!(check("ééééééééééé")[0].contains("11 characters"));
        assert!(check("a\0b")[0].contains("U+0000"));
        assert!(check("a\rb")[0].contains("U+000D"));
        assert!(check("a\u{1b}[2J")[0].contains("control character"));
        assert!(check("a\u{202e}b")[0].contains("reverses"));
        assert!(check("a\u{2067}b")[0].contains("U+2067"));
        assert!(is_blank(None) && is_blank(Some(" \n")) && !is_blank(Some("x")));
    }
}
