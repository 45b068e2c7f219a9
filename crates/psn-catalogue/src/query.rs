//! The user's words, parsed by this crate (never by tantivy's query parser, so no input is
//! syntax), and the tantivy query they become.

use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use crate::schema::Fields;

/// Characters of the query text looked at; the rest is ignored. A catalogue search box needs no
/// more, and it bounds the work a request can cause.
pub const MAX_QUERY_CHARS: usize = 200;
/// Words of the query text used; the rest are ignored, for the same reason.
pub const MAX_QUERY_TERMS: usize = 16;
/// Longer words are dropped: the index's tokenizer drops them too, so they could never match.
const MAX_TERM_BYTES: usize = 40;
/// Shorter words are matched exactly only: a one-letter prefix would match half the index.
const MIN_PREFIX_CHARS: usize = 2;

/// Ranking weights: the title matters most, then the processes, then the rest.
const TITLE_BOOST: f32 = 3.0;
const PROCESS_BOOST: f32 = 2.0;
const DESCRIPTION_BOOST: f32 = 1.0;
const PROVIDER_BOOST: f32 = 1.0;
/// Prefix and typo matches (in any text field) score a constant, not BM25, below what an exact
/// word usually scores, so exact words rank first.
const PREFIX_BOOST: f32 = 1.0;
const FUZZY_BOOST: f32 = 0.5;

/// One word of the query and how loosely it may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTerm {
    /// Lowercased, as the index's tokenizer leaves words.
    pub text: String,
    /// Whether words starting with `text` match.
    pub prefix: bool,
    /// How many edits (insert, delete, substitute, swap adjacent) a matching word may differ by.
    pub typo_distance: u8,
    /// Whether the word looks like a process id (`lgsl:57`), matched against the process facet.
    pub process_id: bool,
}

/// Splits the user's text into at most [`MAX_QUERY_TERMS`] distinct words, the way the index's
/// tokenizer splits listings (letters and digits; everything else separates), except that a
/// `scheme:code` word is kept whole as a possible process id.
pub fn parse(text: &str) -> Vec<QueryTerm> {
    let bounded: String = text.chars().take(MAX_QUERY_CHARS).collect();
    let mut terms: Vec<QueryTerm> = Vec::new();
    let mut push = |word: &str, process_id: bool| {
        let word = word.to_lowercase();
        if word.is_empty()
            || word.len() > MAX_TERM_BYTES
            || terms.len() >= MAX_QUERY_TERMS
            || terms.iter().any(|t| t.text == word)
        {
            return;
        }
        let chars = word.chars().count();
        let has_digit = word.chars().any(|c| c.is_numeric());
        let typo_distance = match chars {
            _ if process_id || has_digit => 0,
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        terms.push(QueryTerm {
            prefix: !process_id && chars >= MIN_PREFIX_CHARS,
            typo_distance,
            process_id,
            text: word,
        });
    };
    for chunk in bounded.split(|c: char| !(c.is_alphanumeric() || c == ':')) {
        if is_process_id(chunk) {
            push(chunk, true);
        } else {
            for word in chunk.split(':') {
                push(word, false);
            }
        }
    }
    terms
}

/// `letters:alphanumerics`, e.g. `lgsl:57`, `lgfl:1`.
fn is_process_id(chunk: &str) -> bool {
    match chunk.split_once(':') {
        Some((scheme, code)) => {
            !scheme.is_empty()
                && !code.is_empty()
                && scheme.chars().all(|c| c.is_alphabetic())
                && code.chars().all(|c| c.is_alphanumeric())
        }
        None => false,
    }
}

/// The tantivy query for the parsed words: every word must match (AND), each in any text field,
/// exactly (BM25, boosted by field), as a prefix or with a typo (constant, lower scores).
/// No words: every listing.
pub fn build(fields: &Fields, terms: &[QueryTerm]) -> Box<dyn Query> {
    if terms.is_empty() {
        return Box::new(AllQuery);
    }
    let text_fields = [
        (fields.title, TITLE_BOOST),
        (fields.process_text, PROCESS_BOOST),
        (fields.description, DESCRIPTION_BOOST),
        (fields.provider_name, PROVIDER_BOOST),
    ];
    let musts = terms
        .iter()
        .map(|term| {
            let mut shoulds: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            if term.process_id {
                // The process id, or else its parts as words (`title:x` is "title x").
                let facet_term = Term::from_field_text(fields.facets[0], &term.text);
                shoulds.push((
                    Occur::Should,
                    boosted(
                        TermQuery::new(facet_term, IndexRecordOption::Basic),
                        TITLE_BOOST,
                    ),
                ));
                let parts = term
                    .text
                    .split(':')
                    .map(|part| {
                        let exact = text_fields
                            .iter()
                            .map(|&(field, boost)| (Occur::Should, exact(field, part, boost)))
                            .collect();
                        (
                            Occur::Must,
                            Box::new(BooleanQuery::new(exact)) as Box<dyn Query>,
                        )
                    })
                    .collect();
                shoulds.push((Occur::Should, Box::new(BooleanQuery::new(parts))));
            } else {
                for (field, boost) in text_fields {
                    shoulds.push((Occur::Should, exact(field, &term.text, boost)));
                }
                // Once against all the text, and once more against the title, so that a title
                // matching by prefix or typo ranks above a description doing so.
                for field in [fields.all_text, fields.title] {
                    let t = Term::from_field_text(field, &term.text);
                    if term.prefix {
                        shoulds.push((
                            Occur::Should,
                            boosted(FuzzyTermQuery::new_prefix(t.clone(), 0, true), PREFIX_BOOST),
                        ));
                    }
                    if term.typo_distance > 0 {
                        shoulds.push((
                            Occur::Should,
                            boosted(
                                FuzzyTermQuery::new(t, term.typo_distance, true),
                                FUZZY_BOOST,
                            ),
                        ));
                    }
                }
            }
            (
                Occur::Must,
                Box::new(BooleanQuery::new(shoulds)) as Box<dyn Query>,
            )
        })
        .collect();
    Box::new(BooleanQuery::new(musts))
}

/// The word exactly, scored by BM25.
fn exact(field: Field, word: &str, boost: f32) -> Box<dyn Query> {
    boosted(
        TermQuery::new(
            Term::from_field_text(field, word),
            IndexRecordOption::WithFreqs,
        ),
        boost,
    )
}

fn boosted(query: impl Query, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(Box::new(query), boost))
}

/// Whether a word of a listing (lowercased) is one the query matched, for highlighting. Mirrors
/// [`build`]: exact, prefix, or within the typo distance (a process id's parts: exact).
pub fn matches(terms: &[QueryTerm], word: &str) -> bool {
    terms.iter().any(|t| {
        if t.process_id {
            return t.text.split(':').any(|part| part == word);
        }
        word == t.text
            || (t.prefix && word.starts_with(&t.text))
            || (t.typo_distance > 0 && within_distance(word, &t.text, t.typo_distance))
    })
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent swaps) is at most `max`.
fn within_distance(a: &str, b: &str, max: u8) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()] <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_tokenizer_and_keeps_process_ids() {
        let terms = parse("Council-Tax lgsl:57 title:x AND (");
        let words: Vec<&str> = terms.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["council", "tax", "lgsl:57", "title:x", "and"]);
        assert!(terms[2].process_id && terms[3].process_id);
        let terms = parse("a:1:b x");
        let words: Vec<&str> = terms.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["a", "1", "b", "x"]);
        assert!(!terms[3].prefix, "one letter is exact only");
    }

    #[test]
    fn bounds_terms_and_length() {
        let many: String = (0..1000).map(|i| format!("w{i} ")).collect();
        assert_eq!(parse(&many).len(), MAX_QUERY_TERMS);
        assert!(
            parse(&"a".repeat(10_000)).is_empty(),
            "a 200-letter word is too long"
        );
        assert!(parse("* ~~~ \u{0} ()").is_empty());
    }

    #[test]
    fn typo_distance() {
        assert!(within_distance("paryoll", "payroll", 1));
        assert!(within_distance("cuncil", "council", 1));
        assert!(!within_distance("payment", "payroll", 2));
    }
}
