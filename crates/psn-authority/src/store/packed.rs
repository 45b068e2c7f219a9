//! A whole table read as one value, for the registry snapshot.
//!
//! At national scale the snapshot reads 175,000 rows, and through sqlx's `Any` driver each row
//! costs about 3.8 µs whatever it holds: SQLite runs on the driver's worker thread and hands
//! rows to the reader one by one, so the two threads switch per row. Asking the database to
//! concatenate a table's rows into one text value (`string_agg`, which SQLite 3.44 and every
//! supported PostgreSQL have) moves one value instead.
//!
//! Each field is written as its length in characters, a colon and its text, or as `-` when it
//! is NULL; a row is its fields one after another. Nothing a field holds can be taken for a
//! boundary, so titles and names need no escaping and no character is reserved.

use super::{Result, StoreError};

/// The query that packs `columns` of every row of `from` (a table, optionally with its
/// `WHERE`) into one text value, NULL when there are no rows.
pub(super) fn packed_select(columns: &[&str], from: &str) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| format!("coalesce(length({c}) || ':' || {c}, '-')"))
        .collect();
    format!("SELECT string_agg({}, '') FROM {from}", fields.join(" || "))
}

/// Reads the fields of a packed table in order.
pub(super) struct Packed<'t> {
    rest: &'t str,
}

impl<'t> Packed<'t> {
    /// The packed text of a table; `None` (no rows) reads as empty.
    pub(super) fn new(text: Option<&'t str>) -> Self {
        Self {
            rest: text.unwrap_or(""),
        }
    }

    /// Whether every row has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next field, `None` for NULL.
    pub(super) fn field(&mut self) -> Result<Option<&'t str>> {
        if let Some(rest) = self.rest.strip_prefix('-') {
            self.rest = rest;
            return Ok(None);
        }
        let corrupt = || StoreError::Corrupt("a packed registry table is malformed".into());
        let (count, rest) = self.rest.split_once(':').ok_or_else(corrupt)?;
        let chars: usize = count.parse().map_err(|_| corrupt())?;
        let end = match rest.char_indices().nth(chars) {
            Some((end, _)) => end,
            None if rest.chars().count() == chars => rest.len(),
            None => return Err(corrupt()),
        };
        let (field, rest) = rest.split_at(end);
        self.rest = rest;
        Ok(Some(field))
    }

    /// The next field, which the schema says is never NULL (`what` names it in the error).
    pub(super) fn required(&mut self, what: &str) -> Result<&'t str> {
        self.field()?
            .ok_or_else(|| StoreError::Corrupt(format!("a stored {what} is NULL")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(rows: &[&[Option<&str>]]) -> String {
        let mut out = String::new();
        for row in rows {
            for field in *row {
                match field {
                    Some(text) => out.push_str(&format!("{}:{text}", text.chars().count())),
                    None => out.push('-'),
                }
            }
        }
        out
    }

    #[test]
    fn fields_holding_separators_digits_and_wide_characters_read_back_whole() {
        let rows: &[&[Option<&str>]] = &[
            &[Some("GB/LA/E1"), Some("12:-:"), None],
            &[Some(""), Some("Cyngor Sir Ynys Môn — 🏴󠁧󠁢󠁷󠁬󠁳󠁿"), Some("-")],
        ];
        let text = pack(rows);
        let mut packed = Packed::new(Some(&text));
        for row in rows {
            for field in *row {
                assert_eq!(packed.field().expect("field"), *field);
            }
        }
        assert!(packed.is_empty());
        assert!(Packed::new(None).is_empty());
    }

    #[test]
    fn malformed_text_is_refused_as_corrupt() {
        for text in ["5:abc", "x:abc", "3abc", ":", "99999999999999999999999:a"] {
            let mut packed = Packed::new(Some(text));
            assert!(
                matches!(packed.field(), Err(StoreError::Corrupt(_))),
                "{text:?} was read"
            );
        }
        let mut packed = Packed::new(Some("-"));
        assert!(matches!(
            packed.required("member name"),
            Err(StoreError::Corrupt(m)) if m.contains("member name")
        ));
    }
}
