//! The Local Government Service List: the catalogue's process taxonomy.

use std::collections::HashMap;

use crate::table::{clip, normalise_spaces, read_table, text_problem, Format, Need};
use crate::{files, Error};

/// Longest label accepted (the longest real one is well under this).
const MAX_LABEL_CHARS: usize = 200;
/// Longest scope note accepted.
const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// A process of the Local Government Service List (LGSL), the catalogue's process taxonomy;
/// `id` is the stable LGSL identifier (URI `http://id.esd.org.uk/service/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Process {
    /// LGSL `Identifier`, e.g. 57 for council tax.
    pub id: u32,
    /// LGSL `Label`, whitespace-normalised.
    pub label: String,
    /// LGSL `Description` (its scope note), trimmed; may be empty.
    pub description: String,
}

/// The LGSL processes compiled into the binary (`data/processes/lgsl_services.csv`), in file
/// order, so the catalogue has a taxonomy without the data directory.
pub fn lgsl_processes() -> Result<Vec<Process>, Error> {
    parse_lgsl_processes(include_str!("../../../data/processes/lgsl_services.csv"))
}

/// Parses an LGSL services file (columns `Identifier`, `Label`, `Description`, found by name).
///
/// There is no skip list here: the taxonomy is small and curated, so a bad identifier, empty
/// or malformed label, or repeated identifier is an [`Error::BadValue`] naming the line rather
/// than a silently shorter taxonomy.
pub fn parse_lgsl_processes(text: &str) -> Result<Vec<Process>, Error> {
    Ok(parse_entries(files::LGSL_SERVICES, text, None)?
        .into_iter()
        .map(|e| Process {
            id: e.id,
            label: e.label,
            description: e.description,
        })
        .collect())
}

/// One row of a taxonomy file: LGSL services, LGFL functions and the network's own lists all
/// share the shape `Identifier`, `Label`, `Description`, and optionally a parent column.
pub(crate) struct Entry {
    /// 1-based line the row starts on, for errors found after parsing (an unknown parent).
    pub line: u64,
    pub id: u32,
    pub label: String,
    pub description: String,
    /// The parent's identifier, when the file has a parent column and the row fills it.
    pub parent: Option<u32>,
}

/// Which parent column a taxonomy file has, and whether every row must fill it.
pub(crate) struct ParentColumn {
    pub name: &'static str,
    pub required: bool,
}

/// Parses the rows of a taxonomy file, refusing (never skipping) a bad one: an identifier or
/// parent that is not a whole number, an empty or malformed label, a repeated identifier, or
/// a description that is too long or holds control characters.
pub(crate) fn parse_entries(
    file: &'static str,
    text: &str,
    parent: Option<ParentColumn>,
) -> Result<Vec<Entry>, Error> {
    let format = Format {
        file,
        delimiter: b',',
        quoting: true,
    };
    let parent_need = match &parent {
        Some(_) => Need::Required,
        None => Need::Optional,
    };
    let parent_name = parent.as_ref().map_or("Parent identifiers", |p| p.name);
    let rows = read_table(
        &format,
        text,
        [
            ("Identifier", Need::Required),
            ("Label", Need::Required),
            ("Description", Need::Required),
            (parent_name, parent_need),
        ],
    )?;
    let mut seen: HashMap<u32, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let line = row.line;
        let [id, label, description, parent_value] = row.values;
        let bad = |column: &'static str, message: String| Error::BadValue {
            file,
            line,
            column,
            message,
        };
        let id_value = whole_number(&id).ok_or_else(|| {
            bad(
                "Identifier",
                format!("{:?} is not a whole number", clip(&id)),
            )
        })?;
        if let Some(first) = seen.insert(id_value, line) {
            return Err(bad(
                "Identifier",
                format!("{id_value} repeats the identifier on line {first}"),
            ));
        }
        let label = normalise_spaces(&label);
        if label.is_empty() {
            return Err(bad("Label", "empty label".to_owned()));
        }
        if let Some(problem) = text_problem(&label, "label", MAX_LABEL_CHARS) {
            return Err(bad("Label", problem));
        }
        let description_ok = description.chars().count() <= MAX_DESCRIPTION_CHARS
            && !description
                .chars()
                .any(|c| c.is_control() && !c.is_whitespace());
        if !description_ok {
            return Err(bad(
                "Description",
                "description too long or contains control characters".to_owned(),
            ));
        }
        let parent_id = match &parent {
            None => None,
            Some(column) if parent_value.is_empty() => {
                if column.required {
                    return Err(bad(column.name, "empty parent identifier".to_owned()));
                }
                None
            }
            Some(column) => Some(whole_number(&parent_value).ok_or_else(|| {
                bad(
                    column.name,
                    format!("{:?} is not a whole number", clip(&parent_value)),
                )
            })?),
        };
        out.push(Entry {
            line,
            id: id_value,
            label,
            description,
            parent: parent_id,
        });
    }
    Ok(out)
}

/// A whole number written only with ASCII digits (no sign, no spaces), as identifiers are.
fn whole_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
