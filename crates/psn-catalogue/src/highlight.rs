//! Snippets: plain text and the byte ranges of matched words, never HTML, so the web UI escapes
//! the text itself and nothing from a listing can become markup.

use std::ops::Range;

use crate::model::Snippet;
use crate::query::{self, QueryTerm};

/// Longest description passage, in characters, before cutting it around the first match.
const PASSAGE_CHARS: usize = 200;
/// How much of the passage comes before the first match, in characters.
const LEAD_CHARS: usize = 40;
const ELLIPSIS: &str = "…";

/// The words of `text` as the index's tokenizer sees them (runs of letters and digits).
fn words(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = None;
    let mut iter = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (i, c) in iter.by_ref() {
            match (start, c.is_alphanumeric()) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    start = None;
                    return Some(s..i);
                }
                _ => {}
            }
        }
        None
    })
}

fn matched(text: &str, terms: &[QueryTerm]) -> Vec<Range<usize>> {
    if terms.is_empty() {
        return Vec::new();
    }
    words(text)
        .filter(|range| query::matches(terms, &text[range.clone()].to_lowercase()))
        .collect()
}

/// The whole text with its matches marked (titles are short).
pub fn whole(text: &str, terms: &[QueryTerm]) -> Snippet {
    Snippet {
        text: text.to_owned(),
        highlights: matched(text, terms),
    }
}

/// A passage of at most [`PASSAGE_CHARS`] characters (plus ellipses) starting a little before
/// the first match, cut at word boundaries where possible.
pub fn passage(text: &str, terms: &[QueryTerm]) -> Snippet {
    if text.chars().count() <= PASSAGE_CHARS {
        return whole(text, terms);
    }
    let highlights = matched(text, terms);
    let first = highlights.first().map_or(0, |r| r.start);
    // Back up LEAD_CHARS characters, then forward to the start of a word.
    let mut start = text[..first]
        .char_indices()
        .rev()
        .nth(LEAD_CHARS.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    if start > 0 {
        start = words(&text[start..first])
            .next()
            .map_or(first, |w| start + w.start);
    }
    let mut end = text[start..]
        .char_indices()
        .nth(PASSAGE_CHARS)
        .map_or(text.len(), |(i, _)| start + i);
    if end < text.len() {
        // Cut after the last whole word.
        if let Some(last) = words(&text[start..end]).last() {
            if start + last.end < end {
                end = start + last.end;
            }
        }
    }
    let prefix = if start > 0 { ELLIPSIS } else { "" };
    let suffix = if end < text.len() { ELLIPSIS } else { "" };
    let shift = prefix.len();
    Snippet {
        text: format!("{prefix}{}{suffix}", &text[start..end]),
        highlights: highlights
            .into_iter()
            .filter(|r| r.start >= start && r.end <= end)
            .map(|r| r.start - start + shift..r.end - start + shift)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_exact_prefix_and_typo_matches() {
        let terms = query::parse("paryoll coun");
        let s = whole("Payroll for the County Council", &terms);
        let marked: Vec<&str> = s.highlights.iter().map(|r| &s.text[r.clone()]).collect();
        assert_eq!(marked, ["Payroll", "County", "Council"]);
    }

    #[test]
    fn cuts_long_text_around_the_first_match() {
        let text = format!(
            "{} blue badge {}",
            "lorem ipsum ".repeat(40),
            "dolor ".repeat(60)
        );
        let s = passage(&text, &query::parse("badge"));
        assert!(s.text.starts_with(ELLIPSIS) && s.text.ends_with(ELLIPSIS));
        assert!(s.text.chars().count() <= PASSAGE_CHARS + 2);
        assert_eq!(s.highlights.len(), 1);
        assert_eq!(&s.text[s.highlights[0].clone()], "badge");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = "é".repeat(500) + " café";
        let s = passage(&text, &query::parse("cafe café"));
        assert!(s.highlights.iter().all(|r| s.text.get(r.clone()).is_some()));
    }
}
