//! Real UK public bodies and the Local Government Service List, as clean records for seeding a
//! network's member registry (`member import`), `psn demo` and scale benchmarks; and the
//! catalogue's process taxonomy ([`ProcessCatalogue`]: LGSL plus the network's own extension).
//!
//! Sources (see `data/NOTICE.md` for attribution): mySociety local authorities (`LA`, GSS code),
//! NHS ODS trusts (`NHS`, ODS code), police forces (`POL`, ONS police force area code) and the
//! 2017 GOV.UK organisation register (`GOV`). [`synthetic`] adds schools, charities and
//! companies of the same shape for scale tests.
//!
//! # Bad input
//!
//! No input makes these functions panic. The rule for what is fatal:
//!
//! * A file whose **structure** is broken is an [`Error`] naming the file (and line where there
//!   is one): empty file or no header, a needed column missing ([`Error::MissingColumn`]) or
//!   present twice, a quoted field that never closes, a row with a different number of fields
//!   from the header. Past such a point no value can be trusted to be in its column.
//! * A well-formed row with a **bad value** is left out and listed in [`Dataset::skipped`] with
//!   its line and a reason: closed or historical body, empty code, code with characters outside
//!   `A-Z0-9` or longer than 16, empty name, name over 200 or region over 64 characters, control
//!   characters, or a code already accepted earlier in the same file. Codes and names copied
//!   into a [`Skipped`] record are clipped to 80 characters.
//!
//! Columns are found by header name, so reordered or extra columns are fine. All values are
//! trimmed, and names and regions have runs of whitespace collapsed to one space.

mod catalogue;
mod lgsl;
mod names;
mod profiles;
mod sources;
mod synthetic;
mod table;

use std::path::{Path, PathBuf};

pub use catalogue::{CatalogueProcess, Function, ProcessCatalogue, TaxonomyTexts};
pub use lgsl::{lgsl_processes, parse_lgsl_processes, Process};
pub use profiles::{
    council_profiles, parse_council_profiles, Profile, ProfileValue, Profiles, MAX_MERGE_BYTES,
    MAX_MERGE_VARIABLES,
};
pub use sources::{
    parse_government_organisations, parse_local_authorities, parse_nhs_trusts, parse_police_forces,
};
pub use synthetic::{synthetic, REGIONS, SYNTHETIC_MAX};

/// File names of the reference data, as used in [`Skipped::source`] and error messages.
pub mod files {
    /// mySociety UK local authority names and codes.
    pub const LOCAL_AUTHORITIES: &str = "local_authorities.csv";
    /// NHS trusts from the NHS ODS extract.
    pub const NHS_TRUSTS: &str = "nhs_trusts.csv";
    /// UK police forces.
    pub const POLICE_FORCES: &str = "police_forces.csv";
    /// GOV.UK government-organisation register, 2017 snapshot (TSV).
    pub const GOVERNMENT_ORGANISATIONS: &str = "government_organisations_2017.tsv";
    /// Local Government Service List services.
    pub const LGSL_SERVICES: &str = "lgsl_services.csv";
    /// Local Government Function List functions.
    pub const LGFL_FUNCTIONS: &str = "lgfl_functions.csv";
    /// The network's own functions (`psnf:N`).
    pub const PSN_FUNCTIONS: &str = "psn_functions.csv";
    /// The network's own processes (`psn:N`).
    pub const PSN_PROCESSES: &str = "psn_processes.csv";
}

/// Largest file [`from_dir`] will read; the real files are under 200 KB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Which sector a body belongs to; shown in the catalogue and used as a search facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sector {
    /// Councils (`LA`).
    LocalGovernment,
    /// NHS trusts (`NHS`).
    Health,
    /// Police forces (`POL`).
    Policing,
    /// Departments, agencies and public bodies (`GOV`).
    CentralGovernment,
    /// Schools (`EDU`).
    Education,
    /// Charities (`CHC`).
    Charity,
    /// Companies (`COM`).
    Company,
}

impl Sector {
    /// Every sector, in display order, for building facet lists.
    pub const ALL: [Sector; 7] = [
        Sector::LocalGovernment,
        Sector::Health,
        Sector::Policing,
        Sector::CentralGovernment,
        Sector::Education,
        Sector::Charity,
        Sector::Company,
    ];

    /// The kebab-case name used in JSON and URLs, e.g. `"local-government"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Sector::LocalGovernment => "local-government",
            Sector::Health => "health",
            Sector::Policing => "policing",
            Sector::CentralGovernment => "central-government",
            Sector::Education => "education",
            Sector::Charity => "charity",
            Sector::Company => "company",
        }
    }

    /// The default member class of this sector (`"LA"`, `"NHS"`, ...), one class per sector.
    pub fn class(&self) -> &'static str {
        match self {
            Sector::LocalGovernment => "LA",
            Sector::Health => "NHS",
            Sector::Policing => "POL",
            Sector::CentralGovernment => "GOV",
            Sector::Education => "EDU",
            Sector::Charity => "CHC",
            Sector::Company => "COM",
        }
    }
}

impl std::fmt::Display for Sector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One public body, ready to become member `{network}/{class}/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organisation {
    /// Member class: `"LA"`, `"NHS"`, `"POL"`, `"GOV"`, `"EDU"`, `"CHC"` or `"COM"`.
    pub class: &'static str,
    /// The class's authoritative code, only `A-Z0-9`, unique within the class.
    pub code: String,
    /// Name as people use it (NHS names converted from ALL CAPS).
    pub name: String,
    /// Sector facet.
    pub sector: Sector,
    /// Region or nation facet, where the source gives one (never for `GOV`).
    pub region: Option<String>,
}

/// A source row that was left out, and why, so an import can report it rather than lose it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// File name, one of [`files`].
    pub source: &'static str,
    /// 1-based line where the row starts in the file (the header is line 1).
    pub line: u64,
    /// The row's code as found (clipped), possibly empty.
    pub code: String,
    /// The row's name as found (clipped, NHS names title-cased).
    pub name: String,
    /// Why it was left out, e.g. `closed on 2023-07-01`.
    pub reason: String,
}

/// Organisations accepted from one or more files, and the rows left out.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Dataset {
    /// Accepted bodies, in file order.
    pub organisations: Vec<Organisation>,
    /// Rows left out, in file order.
    pub skipped: Vec<Skipped>,
}

impl Dataset {
    /// Appends another dataset's records, for combining files.
    pub fn append(&mut self, mut other: Dataset) {
        self.organisations.append(&mut other.organisations);
        self.skipped.append(&mut other.skipped);
    }

    /// Accepted organisations of one class, e.g. `"NHS"`.
    pub fn of_class<'a>(&'a self, class: &'a str) -> impl Iterator<Item = &'a Organisation> + 'a {
        self.organisations.iter().filter(move |o| o.class == class)
    }

    /// Finds an accepted organisation by class and code.
    pub fn find(&self, class: &str, code: &str) -> Option<&Organisation> {
        self.organisations
            .iter()
            .find(|o| o.class == class && o.code == code)
    }
}

/// Why reference data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (e.g. missing from the directory given to [`from_dir`]).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{}: line {line} is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: u64,
    },
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error("{}: {size} bytes is more than the {limit}-byte limit for a reference file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file has no content at all, not even a header row.
    #[error("{file}: file is empty; a header row is required")]
    Empty {
        /// File name.
        file: &'static str,
    },
    /// The header row lacks a column this file needs.
    #[error("{file}: header row has no `{column}` column")]
    MissingColumn {
        /// File name.
        file: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// The header row has a needed column more than once, so which to use is ambiguous.
    #[error("{file}: header row has the `{column}` column more than once")]
    DuplicateColumn {
        /// File name.
        file: &'static str,
        /// The repeated column.
        column: &'static str,
    },
    /// The file is structurally broken at a line (unclosed quote, wrong number of fields).
    #[error("{file}, line {line}: {message}")]
    Csv {
        /// File name.
        file: &'static str,
        /// 1-based line (0 if unknown).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A value is unusable in a file that has no skip list (the process taxonomy files).
    #[error("{file}, line {line}, column `{column}`: {message}")]
    BadValue {
        /// File name.
        file: &'static str,
        /// 1-based line.
        line: u64,
        /// The column.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
}

const EMBEDDED_LOCAL_AUTHORITIES: &str =
    include_str!("../../../data/organisations/local_authorities.csv");
const EMBEDDED_NHS_TRUSTS: &str = include_str!("../../../data/organisations/nhs_trusts.csv");
const EMBEDDED_POLICE_FORCES: &str = include_str!("../../../data/organisations/police_forces.csv");
const EMBEDDED_GOVERNMENT_ORGANISATIONS: &str =
    include_str!("../../../data/organisations/government_organisations_2017.tsv");

/// The four organisation files compiled into the binary, so demos work on a machine without
/// the data directory. Order: LA, NHS, POL, GOV, each in file order.
pub fn embedded() -> Result<Dataset, Error> {
    combine([
        parse_local_authorities(EMBEDDED_LOCAL_AUTHORITIES)?,
        parse_nhs_trusts(EMBEDDED_NHS_TRUSTS)?,
        parse_police_forces(EMBEDDED_POLICE_FORCES)?,
        parse_government_organisations(EMBEDDED_GOVERNMENT_ORGANISATIONS)?,
    ])
}

/// The same four files read from a directory (e.g. `../shared/data/organisations`), to use
/// newer data than the binary was built with. A missing file, unreadable or non-UTF-8 file,
/// or missing column is an [`Error`].
pub fn from_dir(dir: &Path) -> Result<Dataset, Error> {
    combine([
        parse_local_authorities(&read_text(&dir.join(files::LOCAL_AUTHORITIES))?)?,
        parse_nhs_trusts(&read_text(&dir.join(files::NHS_TRUSTS))?)?,
        parse_police_forces(&read_text(&dir.join(files::POLICE_FORCES))?)?,
        parse_government_organisations(&read_text(&dir.join(files::GOVERNMENT_ORGANISATIONS))?)?,
    ])
}

fn combine(parts: [Dataset; 4]) -> Result<Dataset, Error> {
    let mut all = Dataset::default();
    for part in parts {
        all.append(part);
    }
    Ok(all)
}

fn read_text(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let newlines = valid.iter().filter(|&&b| b == b'\n').count() as u64;
        Error::NotUtf8 {
            path: path.to_owned(),
            line: newlines + 1,
        }
    })
}
