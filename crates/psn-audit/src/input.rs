//! What `verify`, `find` and `export` read: a gateway data directory, one segment file (live or
//! archived), or a bundle. Each becomes a list of segments plus where trust and bodies come from.

use crate::bundle::{Bundle, Selection};
use crate::error::io_error;
use crate::format::{parse_file_name, MAGIC};
use crate::layout::{list_segments, Layout, SegmentFile};
use crate::{AuditError, Trust};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What kind of input it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    DataDir,
    Segment,
    Bundle,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::DataDir => "gateway data directory",
            Kind::Segment => "segment file",
            Kind::Bundle => "audit bundle",
        }
    }
}

/// One segment to read.
pub(crate) struct Source {
    /// Sequence number from the file name, if it has one.
    pub(crate) seq: Option<u64>,
    /// Name for reports.
    pub(crate) name: String,
    /// Size of the input it comes from (for progress).
    pub(crate) size: u64,
    /// Whether it is an archive (never the active segment).
    pub(crate) archived: bool,
    data: Data,
}

enum Data {
    File(SegmentFile),
    Bytes(Vec<u8>),
}

impl Source {
    /// A segment held in memory.
    pub(crate) fn bytes(seq: Option<u64>, name: String, bytes: Vec<u8>) -> Self {
        Source {
            seq,
            name,
            size: bytes.len() as u64,
            archived: true,
            data: Data::Bytes(bytes),
        }
    }

    /// The segment's bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, AuditError> {
        match &self.data {
            Data::File(file) => file.read(),
            Data::Bytes(bytes) => Ok(bytes.clone()),
        }
    }
}

/// Where stored bodies are found.
pub(crate) enum Bodies {
    /// `audit/bodies` of a data directory.
    Dir(PathBuf),
    /// Carried in a bundle, by file name.
    Carried(HashMap<String, Vec<u8>>),
    /// Not available (a lone segment file).
    Absent,
}

/// Where trust comes from.
pub(crate) enum TrustFrom {
    DataDir(PathBuf),
    Bundle(Trust),
    Absent,
}

/// An opened input.
pub(crate) struct Input {
    pub(crate) kind: Kind,
    pub(crate) sources: Vec<Source>,
    pub(crate) bodies: Bodies,
    pub(crate) trust: TrustFrom,
    pub(crate) selection: Option<Selection>,
    /// The log a bundle says it holds.
    pub(crate) log: Option<String>,
}

/// Opens `path`: a directory is a gateway data directory; a file is a segment (by its magic),
/// an archived segment (gzip) or a bundle (JSON).
pub(crate) fn open(path: &Path) -> Result<Input, AuditError> {
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if meta.is_dir() {
        return open_data_dir(path);
    }
    let mut head = [0u8; 8];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io_error(path))?;
    let head = &head[..read];
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seq = parse_file_name(&name).map(|(seq, _)| seq);
    let segment = |archived: bool| {
        let file = SegmentFile {
            seq: seq.unwrap_or(0),
            path: path.to_path_buf(),
            archived,
            len: meta.len(),
        };
        Input {
            kind: Kind::Segment,
            sources: vec![Source {
                seq,
                name: name.clone(),
                size: meta.len(),
                archived,
                data: Data::File(file),
            }],
            bodies: Bodies::Absent,
            trust: enclosing_data_dir(path).map_or(TrustFrom::Absent, TrustFrom::DataDir),
            selection: None,
            log: None,
        }
    };
    if head.starts_with(MAGIC) || (head.len() < MAGIC.len() && MAGIC.starts_with(head)) {
        Ok(segment(false))
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Ok(segment(true))
    } else if head.trim_ascii_start().starts_with(b"{") {
        open_bundle(path)
    } else {
        Err(AuditError::Input(format!(
            "{}: not a gateway data directory, audit segment, archived segment or audit bundle",
            path.display()
        )))
    }
}

fn open_data_dir(path: &Path) -> Result<Input, AuditError> {
    let layout = Layout::new(path);
    if !layout.audit().is_dir() {
        return Err(AuditError::Input(format!(
            "{}: no audit log here (expected a gateway data directory with an audit/ directory)",
            path.display()
        )));
    }
    let sources = list_segments(&layout)?
        .into_iter()
        .map(|file| Source {
            seq: Some(file.seq),
            name: format!(
                "{}/{}",
                if file.archived { "archive" } else { "segments" },
                file.name()
            ),
            size: file.len,
            archived: file.archived,
            data: Data::File(file),
        })
        .collect();
    Ok(Input {
        kind: Kind::DataDir,
        sources,
        bodies: Bodies::Dir(layout.bodies()),
        trust: TrustFrom::DataDir(path.to_path_buf()),
        selection: None,
        log: None,
    })
}

fn open_bundle(path: &Path) -> Result<Input, AuditError> {
    let text = std::fs::read(path).map_err(io_error(path))?;
    let bundle = Bundle::from_json(&text)
        .map_err(|e| AuditError::Input(format!("{}: {e}", path.display())))?;
    let trust = Trust::new(
        &bundle.ca_pem,
        bundle.configs.iter().map(|c| (c.version, c.jws.clone())),
    )?;
    let mut sources = Vec::new();
    for segment in &bundle.segments {
        let bytes = segment.bytes().map_err(|e| {
            AuditError::Input(format!("{}: segment {}: {e}", path.display(), segment.seq))
        })?;
        sources.push(Source::bytes(
            Some(segment.seq),
            format!("bundle segment {}", segment.seq),
            bytes,
        ));
    }
    let mut bodies = HashMap::new();
    for body in &bundle.bodies {
        let bytes = psn_core::encoding::b64url_decode(&body.data).ok_or_else(|| {
            AuditError::Input(format!(
                "{}: body {} is not base64url",
                path.display(),
                body.name
            ))
        })?;
        bodies.insert(body.name.clone(), bytes);
    }
    Ok(Input {
        kind: Kind::Bundle,
        sources,
        bodies: Bodies::Carried(bodies),
        trust: TrustFrom::Bundle(trust),
        selection: Some(bundle.selection),
        log: Some(bundle.log),
    })
}

/// The data directory a segment file sits in (`{dir}/audit/segments/x` or `…/archive/x`), if
/// it has a CA.
fn enclosing_data_dir(path: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(path)
        .ok()?
        .parent()?
        .parent()?
        .parent()?
        .to_path_buf();
    dir.join("ca.pem").is_file().then_some(dir)
}
