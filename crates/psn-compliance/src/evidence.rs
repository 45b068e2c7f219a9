//! Evidence files members upload to back their answers, checked before anything stores them.
//!
//! A member uploads a file (`POST /v1/gateway/compliance/evidence`); the authority asks
//! [`check_evidence`] whether it may be stored, and under which media type, then stores it once
//! by its [`sha256_hex`], which is how answers refer to it. Assessors later download and open
//! these files, so the type is decided from the content (never the name alone), the name must
//! agree with it, and only a few inert formats are taken: PDF, PNG, JPEG, plain text and CSV.
//! Archives and office documents are refused outright, so nothing here or later ever
//! decompresses a member's upload. The per-member quota ([`MAX_EVIDENCE_QUOTA`]) is the
//! caller's to enforce, since it depends on what is already stored.

use crate::text::{clip, is_bidi_control};

/// Largest evidence file, bytes (10 MiB).
pub const MAX_EVIDENCE_BYTES: u64 = 10 * 1024 * 1024;
/// Most evidence one member may hold, bytes (200 MiB); enforced by the caller.
pub const MAX_EVIDENCE_QUOTA: u64 = 200 * 1024 * 1024;
/// The media types evidence may have.
pub const ACCEPTED_TYPES: [&str; 5] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "text/csv",
];
/// Longest evidence file name, characters.
pub const MAX_EVIDENCE_NAME: usize = 120;

const PDF: &str = "application/pdf";
const PNG: &str = "image/png";
const JPEG: &str = "image/jpeg";
const TEXT: &str = "text/plain";
const CSV: &str = "text/csv";

/// What is accepted, for messages.
const ACCEPTED: &str = "accepted are PDF, PNG, JPEG, plain text (.txt, .log) and CSV files";

/// Why an evidence file was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceRefusal {
    /// The file has no content.
    #[error("The file is empty.")]
    Empty,
    /// The file is over [`MAX_EVIDENCE_BYTES`].
    #[error("The file is {bytes} bytes, more than the limit of {limit} bytes (10 MiB).")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The file name is not a plain name ending in the extension of its type; says why.
    #[error("The file name is not accepted: {0}.")]
    BadName(String),
    /// The content is not of an accepted type; says what was found and what is accepted.
    #[error("The file's type is not accepted: {0}.")]
    UnsupportedType(String),
    /// The content type the upload declared is not what the content is.
    #[error("The file was sent as {declared:?} but its content is {found}.")]
    TypeMismatch {
        /// The declared type (lower case, without parameters, clipped).
        declared: String,
        /// The type found in the content.
        found: &'static str,
    },
}

/// Decides whether an uploaded evidence file named `name`, declared by the upload as
/// `declared` (its HTTP Content-Type, if any), with content `bytes`, may be stored, and gives
/// its media type (one of [`ACCEPTED_TYPES`]).
///
/// The type comes from the content: `%PDF-` is a PDF, the PNG signature a PNG, `FF D8 FF` a
/// JPEG, and UTF-8 text without control characters (other than tab and line ends) is CSV when
/// named `.csv`, plain text otherwise. The name must be a plain file name (no directories,
/// hidden files, control or bidirectional characters, `:`) ending in an extension of that type.
/// A declared type other than `application/octet-stream` must agree with the content.
pub fn check_evidence(
    name: &str,
    declared: Option<&str>,
    bytes: &[u8],
) -> Result<&'static str, EvidenceRefusal> {
    if bytes.is_empty() {
        return Err(EvidenceRefusal::Empty);
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_EVIDENCE_BYTES {
        return Err(EvidenceRefusal::TooLarge {
            bytes: size,
            limit: MAX_EVIDENCE_BYTES,
        });
    }
    check_name(name).map_err(EvidenceRefusal::BadName)?;
    let lower = name.to_lowercase();
    let found = sniff(&lower, bytes).map_err(EvidenceRefusal::UnsupportedType)?;
    let extensions: &[&str] = match found {
        PDF => &[".pdf"],
        PNG => &[".png"],
        JPEG => &[".jpg", ".jpeg"],
        CSV => &[".csv"],
        _ => &[".txt", ".log"],
    };
    if !extensions.iter().any(|e| lower.ends_with(e)) {
        return Err(EvidenceRefusal::BadName(format!(
            "{:?} holds {found}, so its name must end in {}",
            clip(name),
            extensions.join(" or ")
        )));
    }
    if let Some(declared) = declared {
        let essence = declared
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !essence.is_empty()
            && essence != "application/octet-stream"
            && !same_type(&essence, found)
        {
            return Err(EvidenceRefusal::TypeMismatch {
                declared: clip(&essence),
                found,
            });
        }
    }
    Ok(found)
}

/// The SHA-256 of `bytes`, lowercase hex: how evidence is stored and referred to.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a declared type names the found one. Plain text and CSV count as one another;
/// the names browsers commonly send for CSV (Windows with Excel says `application/vnd.ms-excel`)
/// and JPEG (`image/jpg`, `image/pjpeg`) count too.
fn same_type(declared: &str, found: &'static str) -> bool {
    match found {
        TEXT | CSV => matches!(
            declared,
            "text/plain"
                | "text/csv"
                | "text/comma-separated-values"
                | "application/csv"
                | "application/vnd.ms-excel"
        ),
        JPEG => matches!(declared, "image/jpeg" | "image/jpg" | "image/pjpeg"),
        _ => declared == found,
    }
}

/// A plain file name: 1 to 120 characters, no directories or hidden files, nothing that hides
/// or reorders what is displayed, nothing Windows treats specially.
fn check_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 {
        return Err("the file needs a name".to_owned());
    }
    if count > MAX_EVIDENCE_NAME {
        return Err(format!(
            "it is {count} characters long; at most {MAX_EVIDENCE_NAME} are allowed"
        ));
    }
    let shown = clip(name);
    if name.contains('/') || name.contains('\\') {
        return Err(format!(
            "{shown:?} contains a folder separator; give just the file's name"
        ));
    }
    // With no separators, `.`, `..` and hidden names all start with a dot.
    if name.starts_with('.') {
        return Err(format!(
            "{shown:?} is a hidden or relative name; it must not start with '.'"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "it contains a control character (U+{:04X})",
            u32::from(c)
        ));
    }
    if let Some(c) = name.chars().find(|c| is_bidi_control(*c)) {
        return Err(format!(
            "it contains a character that reverses how text is displayed (U+{:04X}), which can disguise the file's real extension",
            u32::from(c)
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ':' | '"' | '<' | '>' | '|' | '?' | '*'))
    {
        return Err(format!(
            "{shown:?} contains {c:?}, which file names must not contain"
        ));
    }
    if name.trim() != name {
        return Err(format!("{shown:?} starts or ends with a space"));
    }
    Ok(())
}

/// The media type of `bytes` from its content (`lower` is the lower-cased name, to tell CSV
/// from plain text), or why it is not accepted.
fn sniff(lower: &str, bytes: &[u8]) -> Result<&'static str, String> {
    if let Some(what) = archive(bytes) {
        return Err(format!(
            "it is {what}; archives and office documents are not accepted, so export the document to PDF and upload that ({ACCEPTED})"
        ));
    }
    if bytes.starts_with(b"%PDF-") {
        return Ok(PDF);
    }
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n']) {
        return Ok(PNG);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(JPEG);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                Err(format!(
                    "it looks like text but contains a control character (U+{:04X}), so it is treated as an unknown binary file; {ACCEPTED}",
                    u32::from(c)
                ))
            } else if lower.ends_with(".csv") {
                Ok(CSV)
            } else {
                Ok(TEXT)
            }
        }
        Err(_) => Err(format!(
            "it is not a PDF, PNG or JPEG and not UTF-8 text; {ACCEPTED}"
        )),
    }
}

/// What kind of archive or office document `bytes` is, by its signature.
fn archive(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (
            b"PK\x03\x04",
            "a ZIP archive (Word, Excel, PowerPoint and OpenDocument files are ZIP archives)",
        ),
        (b"PK\x05\x06", "an empty ZIP archive"),
        (b"PK\x07\x08", "a ZIP archive"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!\x1A\x07", "a RAR archive"),
        (
            b"\xD0\xCF\x11\xE0",
            "an older Office document (.doc, .xls, .ppt or .msg)",
        ),
        (b"\xFD7zXZ\x00", "an xz archive"),
        (b"\x28\xB5\x2F\xFD", "a Zstandard archive"),
    ];
    if let Some((_, what)) = SIGNATURES.iter().find(|(sig, _)| bytes.starts_with(sig)) {
        return Some(what);
    }
    // bzip2: `BZh`, a block size digit, then the block or end-of-stream magic (so a text file
    // that merely starts with "BZh" is not mistaken for one).
    if let [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..] = bytes {
        if rest.starts_with(b"1AY&SY") || rest.starts_with(b"\x17\x72\x45\x38\x50\x90") {
            return Some("a bzip2 archive");
        }
    }
    None
}
