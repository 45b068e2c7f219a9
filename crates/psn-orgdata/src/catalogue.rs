//! The catalogue's process taxonomy: what process identifiers a service listing may name.
//!
//! Two sources, in two namespaces that can never collide:
//!
//! * `lgsl:N` — the Local Government Service List, and `lgfl:N` its function list. These ids
//!   belong to the esd-toolkit (LGA), which may add ids at any time, so the network must not
//!   mint ids in them.
//! * `psn:NNNN` processes and `psnf:N` functions — the network's own extension
//!   (`data/processes/psn_processes.csv`, `psn_functions.csv`) for what the council-centred
//!   LGSL lacks: policing, NHS, central government and shared back-office processes.
//!
//! The LGSL file has no function column and the data holds no LGSL→LGFL mapping, so LGSL
//! processes have no function ancestry here; the LGFL hierarchy is still loaded and checked
//! (every parent exists, no cycles) so [`ProcessCatalogue::function_ancestry`] can answer for
//! it. The network's processes each name their `psnf` function.

use std::collections::HashMap;

use crate::lgsl::{parse_entries, Entry, ParentColumn};
use crate::{files, Error};

/// The LGFL and the network's function hierarchies are shallow (at most 3 levels); a chain
/// deeper than this can only be a cycle.
const MAX_FUNCTION_DEPTH: usize = 16;

/// A function: a grouping of processes (`lgfl:N` or `psnf:N`), possibly under a parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Function {
    /// Namespaced identifier, e.g. `psnf:1` or `lgfl:2`.
    pub id: String,
    /// Label, whitespace-normalised.
    pub label: String,
    /// The parent function's identifier, in the same namespace, if any.
    pub parent: Option<String>,
}

/// A process a service listing may name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogueProcess {
    /// Namespaced identifier, e.g. `lgsl:57` or `psn:1001`.
    pub id: String,
    /// Label, whitespace-normalised.
    pub label: String,
    /// Scope note; may be empty.
    pub description: String,
    /// The function the process sits directly under, where the data says so.
    pub function: Option<String>,
}

/// Lowercased copies of a process's label and scope note, made once so a search does not
/// lowercase 1,600 descriptions per request.
struct Folded {
    label: String,
    description: String,
}

/// Every process a listing may name, with the function hierarchies above them.
pub struct ProcessCatalogue {
    processes: Vec<CatalogueProcess>,
    folded: Vec<Folded>,
    by_id: HashMap<String, usize>,
    functions: HashMap<String, Function>,
}

/// The four taxonomy files compiled into the binary.
const LGSL: &str = include_str!("../../../data/processes/lgsl_services.csv");
const LGFL: &str = include_str!("../../../data/processes/lgfl_functions.csv");
const PSN_FUNCTIONS: &str = include_str!("../../../data/processes/psn_functions.csv");
const PSN_PROCESSES: &str = include_str!("../../../data/processes/psn_processes.csv");

/// The text of the four taxonomy files, for [`ProcessCatalogue::parse`].
#[derive(Debug, Clone, Copy)]
pub struct TaxonomyTexts<'a> {
    /// `lgsl_services.csv`.
    pub lgsl_services: &'a str,
    /// `lgfl_functions.csv`.
    pub lgfl_functions: &'a str,
    /// `psn_functions.csv`.
    pub psn_functions: &'a str,
    /// `psn_processes.csv`.
    pub psn_processes: &'a str,
}

impl ProcessCatalogue {
    /// The catalogue from the files compiled into the binary, so an authority needs no data
    /// directory to check listings.
    pub fn embedded() -> Result<Self, Error> {
        Self::parse(TaxonomyTexts {
            lgsl_services: LGSL,
            lgfl_functions: LGFL,
            psn_functions: PSN_FUNCTIONS,
            psn_processes: PSN_PROCESSES,
        })
    }

    /// Parses the four files. Any bad row, a parent that is not in its own file, or a cycle of
    /// parents is an [`Error::BadValue`] naming the file and line: a listing checked against a
    /// silently shortened taxonomy would be refused for no visible reason.
    pub fn parse(texts: TaxonomyTexts<'_>) -> Result<Self, Error> {
        let parents = |name| {
            Some(ParentColumn {
                name,
                required: false,
            })
        };
        let mut functions = HashMap::new();
        add_functions(
            &mut functions,
            files::LGFL_FUNCTIONS,
            "lgfl",
            parse_entries(
                files::LGFL_FUNCTIONS,
                texts.lgfl_functions,
                parents("Parent identifiers"),
            )?,
        )?;
        add_functions(
            &mut functions,
            files::PSN_FUNCTIONS,
            "psnf",
            parse_entries(
                files::PSN_FUNCTIONS,
                texts.psn_functions,
                parents("Parent identifiers"),
            )?,
        )?;
        let mut processes: Vec<CatalogueProcess> =
            parse_entries(files::LGSL_SERVICES, texts.lgsl_services, None)?
                .into_iter()
                .map(|e| CatalogueProcess {
                    id: format!("lgsl:{}", e.id),
                    label: e.label,
                    description: e.description,
                    function: None,
                })
                .collect();
        let own = parse_entries(
            files::PSN_PROCESSES,
            texts.psn_processes,
            Some(ParentColumn {
                name: "Parent identifier",
                required: true,
            }),
        )?;
        for e in own {
            let function = e.parent.map(|p| format!("psnf:{p}"));
            if let Some(f) = &function {
                if !functions.contains_key(f) {
                    return Err(Error::BadValue {
                        file: files::PSN_PROCESSES,
                        line: e.line,
                        column: "Parent identifier",
                        message: format!("{f} is not a function in {}", files::PSN_FUNCTIONS),
                    });
                }
            }
            processes.push(CatalogueProcess {
                id: format!("psn:{}", e.id),
                label: e.label,
                description: e.description,
                function,
            });
        }
        let by_id = processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let folded = processes
            .iter()
            .map(|p| Folded {
                label: p.label.to_lowercase(),
                description: p.description.to_lowercase(),
            })
            .collect();
        Ok(Self {
            processes,
            folded,
            by_id,
            functions,
        })
    }

    /// Every process: LGSL in file order, then the network's own.
    pub fn processes(&self) -> &[CatalogueProcess] {
        &self.processes
    }

    /// The process with this exact identifier (`lgsl:57`, `psn:1001`; no leading zeros).
    pub fn get(&self, id: &str) -> Option<&CatalogueProcess> {
        self.by_id.get(id).map(|&i| &self.processes[i])
    }

    /// The function with this exact identifier (`lgfl:2`, `psnf:1`).
    pub fn function(&self, id: &str) -> Option<&Function> {
        self.functions.get(id)
    }

    /// The functions above a process, outermost first (e.g. `[Policing]`); empty for LGSL
    /// processes, which the data does not place under LGFL functions.
    pub fn ancestry(&self, process: &CatalogueProcess) -> Vec<&Function> {
        process
            .function
            .as_deref()
            .map(|f| self.function_ancestry(f))
            .unwrap_or_default()
    }

    /// A function and those above it, outermost first; empty for an unknown id. Parsing
    /// refused cycles, and the depth bound keeps this finite regardless.
    pub fn function_ancestry(&self, id: &str) -> Vec<&Function> {
        let mut chain = Vec::new();
        let mut next = self.functions.get(id);
        while let Some(f) = next {
            if chain.len() == MAX_FUNCTION_DEPTH {
                break;
            }
            chain.push(f);
            next = f.parent.as_deref().and_then(|p| self.functions.get(p));
        }
        chain.reverse();
        chain
    }

    /// Processes whose label or scope note contains every word of `text` (case-insensitive),
    /// best first: label equal to the text, then label starting with it, label containing
    /// it, label containing every word, and last scope-note matches; ties by label, then id.
    /// Blank text matches every process, in catalogue order.
    pub fn search(&self, text: &str) -> Vec<&CatalogueProcess> {
        let phrase = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let phrase = phrase.to_lowercase();
        if phrase.is_empty() {
            return self.processes.iter().collect();
        }
        let words: Vec<&str> = phrase.split(' ').collect();
        let mut hits: Vec<(u8, usize)> = self
            .folded
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let rank = if f.label == phrase {
                    0
                } else if f.label.starts_with(&phrase) {
                    1
                } else if f.label.contains(&phrase) {
                    2
                } else if words.iter().all(|w| f.label.contains(w)) {
                    3
                } else if words
                    .iter()
                    .all(|w| f.label.contains(w) || f.description.contains(w))
                {
                    4
                } else {
                    return None;
                };
                Some((rank, i))
            })
            .collect();
        hits.sort_by(|a, b| {
            (a.0, &self.folded[a.1].label, a.1).cmp(&(b.0, &self.folded[b.1].label, b.1))
        });
        hits.into_iter().map(|(_, i)| &self.processes[i]).collect()
    }
}

/// Adds one file's functions under `namespace`, refusing a parent missing from the same file
/// or a cycle of parents, with the line of the offending row.
fn add_functions(
    functions: &mut HashMap<String, Function>,
    file: &'static str,
    namespace: &str,
    entries: Vec<Entry>,
) -> Result<(), Error> {
    let lines: HashMap<u32, u64> = entries.iter().map(|e| (e.id, e.line)).collect();
    let parents: HashMap<u32, Option<u32>> = entries.iter().map(|e| (e.id, e.parent)).collect();
    for e in &entries {
        let bad = |message: String| Error::BadValue {
            file,
            line: e.line,
            column: "Parent identifiers",
            message,
        };
        let mut at = e.parent;
        let mut steps = 0;
        while let Some(p) = at {
            if !lines.contains_key(&p) {
                return Err(bad(format!("parent {p} is not a function in this file")));
            }
            if p == e.id || steps == MAX_FUNCTION_DEPTH {
                return Err(bad(format!(
                    "the parents of function {} form a cycle",
                    e.id
                )));
            }
            steps += 1;
            at = parents.get(&p).copied().flatten();
        }
    }
    for e in entries {
        let id = format!("{namespace}:{}", e.id);
        functions.insert(
            id.clone(),
            Function {
                id,
                label: e.label,
                parent: e.parent.map(|p| format!("{namespace}:{p}")),
            },
        );
    }
    Ok(())
}
