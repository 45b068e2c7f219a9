//! Reading a delimited text file into rows of named columns, and the per-row checks shared by
//! every organisation file.
//!
//! Policy (documented on the crate too): a file whose *structure* is broken (no header, a needed
//! column missing or given twice, a quoted field that never closes, a row with a different number
//! of fields from the header) is an [`Error`] naming the file and line, because nothing after that
//! point can be trusted to be in the right column. A row that is well formed but holds a bad
//! *value* (empty or malformed code, control characters, absurd length, duplicate) is
//! [`Skipped`] with a reason, and the rest of the file is still used.

use std::collections::HashMap;

use crate::{Dataset, Error, Organisation, Sector, Skipped};

/// Longest code accepted; real codes are at most 9 characters (GSS).
pub(crate) const MAX_CODE_CHARS: usize = 16;
/// Longest name accepted; the longest real name is under 100 characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest region accepted.
pub(crate) const MAX_REGION_CHARS: usize = 64;
/// How much of a bad value is copied into a [`Skipped`] record or an error message.
const CLIP_CHARS: usize = 80;

/// How a file is laid out.
pub(crate) struct Format {
    pub file: &'static str,
    pub delimiter: u8,
    /// `false` for the TSV register format, where `"` is an ordinary character.
    pub quoting: bool,
}

/// Whether a column must be in the header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    /// Absent column reads as empty strings.
    Optional,
}

/// One data row: its 1-based starting line and the trimmed values of the requested columns.
pub(crate) struct Row<const N: usize> {
    pub line: u64,
    pub values: [String; N],
}

/// Reads `text` (header row first) and returns the requested columns of every data row.
pub(crate) fn read_table<const N: usize>(
    format: &Format,
    text: &str,
    columns: [(&'static str, Need); N],
) -> Result<Vec<Row<N>>, Error> {
    let file = format.file;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Error::Empty { file });
    }
    if format.quoting {
        check_quotes(file, text, format.delimiter)?;
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .quoting(format.quoting)
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());

    let headers = reader.headers().map_err(|e| csv_error(file, &e))?.clone();
    let mut index: [Option<usize>; N] = [None; N];
    for (slot, (name, need)) in index.iter_mut().zip(columns.iter()) {
        let mut found = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim() == *name)
            .map(|(i, _)| i);
        *slot = found.next();
        if found.next().is_some() {
            return Err(Error::DuplicateColumn { file, column: name });
        }
        if slot.is_none() && *need == Need::Required {
            return Err(Error::MissingColumn { file, column: name });
        }
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(file, &e)),
        }
        let line = record.position().map_or(0, csv::Position::line);
        let values = std::array::from_fn(|i| {
            index[i]
                .and_then(|j| record.get(j))
                .unwrap_or("")
                .trim()
                .to_owned()
        });
        rows.push(Row { line, values });
    }
    Ok(rows)
}

/// Finds a quoted field that is never closed. The `csv` crate silently reads such a field to
/// the end of the file, which would hide the real problem behind a confusing later error.
/// Mirrors the crate's rules: a quote opens a quoted field only at the start of a field, `""`
/// inside it is an escaped quote.
fn check_quotes(file: &'static str, text: &str, delimiter: u8) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let mut line: u64 = 1;
    let mut at_field_start = true;
    let mut open_since: Option<u64> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if open_since.is_some() {
            if c == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open_since = None;
                    at_field_start = false;
                }
            } else if c == b'\n' {
                line += 1;
            }
        } else if c == b'"' && at_field_start {
            open_since = Some(line);
        } else if c == delimiter || c == b'\r' {
            at_field_start = true;
        } else if c == b'\n' {
            at_field_start = true;
            line += 1;
        } else {
            at_field_start = false;
        }
        i += 1;
    }
    match open_since {
        Some(line) => Err(Error::Csv {
            file,
            line,
            message: "a quoted field opened on this line is never closed".to_owned(),
        }),
        None => Ok(()),
    }
}

fn csv_error(file: &'static str, e: &csv::Error) -> Error {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => Error::Csv {
            file,
            line: pos.as_ref().map_or(0, csv::Position::line),
            message: format!("row has {len} fields but the header has {expected_len}"),
        },
        _ => Error::Csv {
            file,
            line: e.position().map_or(0, csv::Position::line),
            message: e.to_string(),
        },
    }
}

/// Shortens a value for use in a message or [`Skipped`] record, at a character boundary.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(CLIP_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Collapses runs of whitespace (including tabs and newlines) to single spaces.
pub(crate) fn normalise_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a code is unusable, if it is.
pub(crate) fn code_problem(code: &str, column: &str) -> Option<String> {
    if code.is_empty() {
        Some(format!("empty {column}"))
    } else if code.chars().count() > MAX_CODE_CHARS {
        Some(format!(
            "{column} too long ({} characters, at most {MAX_CODE_CHARS})",
            code.chars().count()
        ))
    } else if !code
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Some(format!("{column} contains characters outside A-Z and 0-9"))
    } else {
        None
    }
}

/// Why a free-text value (already whitespace-normalised) is unusable, if it is.
pub(crate) fn text_problem(value: &str, what: &str, max: usize) -> Option<String> {
    let chars = value.chars().count();
    if chars > max {
        Some(format!(
            "{what} too long ({chars} characters, at most {max})"
        ))
    } else if value.chars().any(char::is_control) {
        Some(format!("{what} contains control characters"))
    } else {
        None
    }
}

/// Accumulates one file's accepted and skipped rows, applying the checks common to all files.
pub(crate) struct Collector {
    source: &'static str,
    class: &'static str,
    sector: Sector,
    code_column: &'static str,
    seen: HashMap<String, u64>,
    data: Dataset,
}

impl Collector {
    pub fn new(
        source: &'static str,
        class: &'static str,
        sector: Sector,
        code_column: &'static str,
    ) -> Self {
        Self {
            source,
            class,
            sector,
            code_column,
            seen: HashMap::new(),
            data: Dataset::default(),
        }
    }

    /// Records a row that is left out, with the reason.
    pub fn skip(&mut self, line: u64, code: &str, name: &str, reason: String) {
        self.data.skipped.push(Skipped {
            source: self.source,
            line,
            code: clip(code),
            name: clip(name),
            reason,
        });
    }

    /// Accepts a row that passed its file-specific checks, unless the code, name or region is
    /// unusable or the code was already accepted earlier in the file.
    pub fn offer(&mut self, line: u64, code: &str, name: &str, region: &str) {
        if let Some(reason) = code_problem(code, self.code_column) {
            return self.skip(line, code, name, reason);
        }
        if name.is_empty() {
            return self.skip(line, code, name, "empty name".to_owned());
        }
        if let Some(reason) = text_problem(name, "name", MAX_NAME_CHARS) {
            return self.skip(line, code, name, reason);
        }
        let region = normalise_spaces(region);
        if let Some(reason) = text_problem(&region, "region", MAX_REGION_CHARS) {
            return self.skip(line, code, name, reason);
        }
        if let Some(first) = self.seen.get(code) {
            let reason = format!("duplicate code, first seen on line {first}");
            return self.skip(line, code, name, reason);
        }
        self.seen.insert(code.to_owned(), line);
        self.data.organisations.push(Organisation {
            class: self.class,
            code: code.to_owned(),
            name: name.to_owned(),
            sector: self.sector,
            region: (!region.is_empty()).then_some(region),
        });
    }

    pub fn finish(self) -> Dataset {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        let long = "é".repeat(200);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), CLIP_CHARS + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn quote_scanner_follows_csv_rules() {
        assert!(check_quotes("f", "a,b\n\"x\"\"y\",z\n", b',').is_ok());
        assert!(check_quotes("f", "a,b\nx\"y,z\n", b',').is_ok());
        match check_quotes("f", "a,b\n1,2\n\"open,z\n3,4\n", b',') {
            Err(Error::Csv { line, .. }) => assert_eq!(line, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn code_checks() {
        assert_eq!(code_problem("E10000016", "c"), None);
        assert!(code_problem("", "c").is_some_and(|r| r.contains("empty")));
        assert!(code_problem("e1", "c").is_some_and(|r| r.contains("outside")));
        assert!(code_problem("ÉCOLE", "c").is_some());
        assert!(code_problem(&"1".repeat(17), "c").is_some_and(|r| r.contains("too long")));
    }
}
