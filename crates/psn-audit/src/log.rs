//! The writer: one thread owns the active segment. Appenders hand it serialised records and wait;
//! it takes everything queued, writes it in one go, syncs once (group commit) and answers them
//! all, so many concurrent exchanges share one `fdatasync`. It also seals the chain periodically,
//! rotates segments by size and age, and stops accepting appends at the first I/O failure, since
//! after a failed write or sync the state of the file is unknown.

use crate::checkpoint::checkpoint_of;
use crate::error::io_error;
use crate::format::{
    certificate_entry, encode_entry, encode_frame, record_payload, ChainHash, Entry, Header, Seal,
    FORMAT, MAGIC, MAX_ENTRY_BYTES,
};
use crate::layout::{list_segments, Layout, SegmentFile};
use crate::record::AuditRecord;
use crate::scan::{scan, torn_tail};
use crate::{AuditError, Sealer};
use psn_core::checkpoint::Checkpoint;
use psn_core::encoding::b64url;
use psn_core::names::GatewayId;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Most commands taken into one write, bounding the writer's buffer.
const MAX_BATCH: usize = 8192;

/// When to seal and rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Seal after this many records since the last seal.
    pub seal_every_records: u64,
    /// Seal unsealed records at least this often, so what the gateway signs is never far behind.
    pub seal_interval: Duration,
    /// Start a new segment when the active one reaches this size.
    pub max_segment_bytes: u64,
    /// Start a new segment when the active one, holding at least one record, is this old.
    pub max_segment_age: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            seal_every_records: 1000,
            seal_interval: Duration::from_secs(10),
            max_segment_bytes: 64 * 1024 * 1024,
            max_segment_age: Duration::from_secs(86_400),
        }
    }
}

/// When an append may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only once the record is on stable storage (the default for every service): a crash of
    /// the process or the machine cannot lose it.
    Durable,
    /// Once the record is written to the file; it is synced at most `max_delay` later. A process
    /// crash cannot lose it, a power failure within `max_delay` can. For services whose operator
    /// chose throughput over that guarantee.
    Buffered {
        /// Longest time the record may wait for a sync.
        max_delay: Duration,
    },
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordReceipt {
    /// Segment sequence number.
    pub segment: u64,
    /// Entry position within the segment.
    pub index: u64,
    /// The chain hash of the record's entry.
    pub chain_head: ChainHash,
}

/// What opening the log found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The active segment after opening.
    pub segment: u64,
    /// Records already in the active segment.
    pub records: u64,
    /// Of those, records after the last seal (they are sealed shortly).
    pub unsealed_records: u64,
    /// A torn tail that was cut off (the remains of an append that never completed).
    pub torn_tail: Option<TornTail>,
    /// Whether a new segment was started (empty log, or the last one was closed by a final
    /// seal).
    pub started_segment: bool,
}

/// The incomplete end of a segment removed on open. It never holds an acknowledged record: those
/// were synced before their append returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub segment: u64,
    /// Byte offset the segment was truncated to.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// What was found there.
    pub reason: String,
}

/// Whether the log accepts appends (the gateway's readiness follows this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Appends are accepted.
    Ok,
    /// Writing failed; appends are refused with [`AuditError::Unavailable`] until the log is
    /// reopened.
    Failed {
        /// What failed, naming the file.
        reason: String,
    },
    /// [`AuditLog::close`] was called.
    Closed,
}

/// The writer's counters, published after every batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStatus {
    /// Whether appends are accepted.
    pub health: Health,
    /// The active segment.
    pub segment: u64,
    /// Its size in bytes.
    pub segment_bytes: u64,
    /// Records appended since the log was opened.
    pub appended: u64,
    /// Records not yet covered by a seal.
    pub unsealed_records: u64,
    /// Seals written since the log was opened.
    pub seals: u64,
    /// Syncs (`fdatasync`) since the log was opened; with group commit far fewer than appends.
    pub syncs: u64,
    /// When the last seal was signed, Unix milliseconds.
    pub last_seal_ms: Option<i64>,
    /// The latest seal known durable, exported as a checkpoint for the authority and the peers
    /// to hold (docs/audit.md "Checkpoints"); `None` until the log holds a seal.
    pub checkpoint: Option<Arc<Checkpoint>>,
}

type Reply<T> = oneshot::Sender<Result<T, AuditError>>;

enum Command {
    Append {
        payload: Vec<u8>,
        certificate: Option<Arc<Vec<u8>>>,
        durability: Durability,
        reply: Reply<RecordReceipt>,
    },
    SetSealer(Box<Sealer>, Reply<()>),
    Seal(Reply<()>),
    Close(Reply<()>),
}

/// The audit log of one gateway. Cheap to clone; all clones feed the same writer.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<LogStatus>,
    layout: Layout,
    gateway: GatewayId,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.inner.layout.audit())
            .field("gateway", &self.inner.gateway)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) the log in a gateway data directory (`{data_dir}/audit`), recovering a
    /// torn tail left by a crash and continuing the chain, and starts the writer thread. Blocking:
    /// it reads the active segment, so call it at start-up or from `spawn_blocking`.
    ///
    /// Refuses to open if the active segment is damaged other than at its end (appending would
    /// bury the damage), or belongs to another gateway than the sealer's.
    pub fn open(
        data_dir: &Path,
        options: LogOptions,
        sealer: Sealer,
    ) -> Result<(AuditLog, Recovery), AuditError> {
        if options.seal_every_records == 0 || options.max_segment_bytes == 0 {
            return Err(AuditError::Input(
                "seal_every_records and max_segment_bytes must be at least 1".into(),
            ));
        }
        let layout = Layout::new(data_dir);
        let segments_dir = layout.segments();
        std::fs::create_dir_all(&segments_dir).map_err(io_error(&segments_dir))?;
        remove_temporaries(&segments_dir)?;
        let log = sealer.gateway.to_string();
        let (segment, recovery) = match list_segments(&layout)?.pop() {
            None => {
                let segment = create_segment(&layout, 1, &log, ChainHash::ZERO)?;
                let recovery = Recovery {
                    segment: 1,
                    records: 0,
                    unsealed_records: 0,
                    torn_tail: None,
                    started_segment: true,
                };
                (segment, recovery)
            }
            Some(newest) => recover(&layout, &newest, &log)?,
        };
        let gateway = sealer.gateway.clone();
        let (status_tx, status) = watch::channel(LogStatus {
            health: Health::Ok,
            segment: segment.seq,
            segment_bytes: segment.len,
            appended: 0,
            unsealed_records: segment.unsealed,
            seals: 0,
            syncs: 0,
            last_seal_ms: None,
            checkpoint: segment.checkpoint.clone(),
        });
        let (commands, rx) = mpsc::channel();
        let writer = Writer {
            layout: layout.clone(),
            options,
            log,
            sealer,
            segment,
            status: status_tx,
            flush_deadline: None,
            last_seal: Instant::now(),
            failed: None,
            appended: 0,
            seals: 0,
            syncs: 0,
            last_seal_ms: None,
            pending_checkpoint: None,
        };
        std::thread::Builder::new()
            .name("psn-audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::Unavailable {
                reason: format!("cannot start the audit writer thread: {e}"),
            })?;
        if let Some(torn) = &recovery.torn_tail {
            tracing::warn!(
                segment = torn.segment,
                offset = torn.offset,
                bytes = torn.bytes,
                reason = %torn.reason,
                "audit log: removed a torn tail left by a crash"
            );
        }
        let log = AuditLog {
            inner: Arc::new(Inner {
                commands,
                status,
                layout,
                gateway,
            }),
        };
        Ok((log, recovery))
    }

    /// Appends one exchange's record and returns once it is as durable as asked. The peer's
    /// certificate is needed whenever the record holds the peer's statement: the log keeps it
    /// (once per segment) so the statement can be verified offline, years later.
    ///
    /// Fails fast with [`AuditError::Unavailable`] once the log has failed: the gateway must
    /// then refuse the exchange.
    pub async fn append(
        &self,
        record: &AuditRecord,
        peer_certificate: Option<Arc<Vec<u8>>>,
        durability: Durability,
    ) -> Result<RecordReceipt, AuditError> {
        self.check_health()?;
        if record.peer_proof.is_some() && peer_certificate.is_none() {
            return Err(AuditError::InvalidRecord(
                "a record holding the peer's statement needs the peer's certificate".into(),
            ));
        }
        let json = serde_json::to_vec(record)
            .map_err(|e| AuditError::InvalidRecord(format!("cannot serialise: {e}")))?;
        let payload = record_payload(&json);
        if payload.len() > MAX_ENTRY_BYTES {
            return Err(AuditError::InvalidRecord(format!(
                "{} bytes is over the {MAX_ENTRY_BYTES}-byte limit",
                payload.len()
            )));
        }
        self.call(|reply| Command::Append {
            payload,
            certificate: peer_certificate,
            durability,
            reply,
        })
        .await
    }

    /// Replaces the sealing identity (after certificate renewal); later seals use it. It must be
    /// the same gateway.
    pub async fn set_sealer(&self, sealer: Sealer) -> Result<(), AuditError> {
        if sealer.gateway != self.inner.gateway {
            return Err(AuditError::Sealer(format!(
                "the certificate names {}, but this is the log of {}",
                sealer.gateway, self.inner.gateway
            )));
        }
        self.call(|reply| Command::SetSealer(Box::new(sealer), reply))
            .await
    }

    /// Seals every record appended so far and syncs, e.g. before an export that must cover the
    /// latest exchanges.
    pub async fn seal_now(&self) -> Result<(), AuditError> {
        self.call(Command::Seal).await
    }

    /// Seals what is unsealed, syncs and stops the writer. Later appends fail with
    /// [`AuditError::Closed`]; the next [`AuditLog::open`] continues the same segment.
    pub async fn close(&self) -> Result<(), AuditError> {
        match self.call(Command::Close).await {
            Err(AuditError::Closed) => Ok(()),
            other => other,
        }
    }

    /// Whether appends are accepted; the gateway's readiness follows this.
    pub fn health(&self) -> Health {
        let health = self.inner.status.borrow().health.clone();
        match (health, self.inner.status.has_changed()) {
            (Health::Ok, Err(_)) => Health::Failed {
                reason: "the audit writer stopped".into(),
            },
            (health, _) => health,
        }
    }

    /// The writer's counters as of its last batch.
    pub fn status(&self) -> LogStatus {
        let mut status = self.inner.status.borrow().clone();
        status.health = self.health();
        status
    }

    /// The latest durable seal as a checkpoint, for the authority and the peers to hold.
    pub fn checkpoint(&self) -> Option<Arc<Checkpoint>> {
        self.inner.status.borrow().checkpoint.clone()
    }

    /// A receiver that sees every status change (to drive readiness, metrics, or wait for a seal).
    pub fn subscribe(&self) -> watch::Receiver<LogStatus> {
        self.inner.status.clone()
    }

    /// The gateway data directory the log lives in.
    pub fn data_dir(&self) -> &Path {
        self.inner.layout.root()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The error for an append on a log that no longer accepts them.
    fn refusal(&self) -> AuditError {
        match self.health() {
            Health::Closed => AuditError::Closed,
            Health::Failed { reason } => AuditError::Unavailable { reason },
            Health::Ok => AuditError::Unavailable {
                reason: "the audit writer stopped".into(),
            },
        }
    }

    pub(crate) fn check_health(&self) -> Result<(), AuditError> {
        match self.health() {
            Health::Ok => Ok(()),
            _ => Err(self.refusal()),
        }
    }

    async fn call<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .map_err(|_| self.refusal())?;
        answer.await.map_err(|_| self.refusal())?
    }
}

/// Removes leftovers of segment creation interrupted by a crash.
fn remove_temporaries(dir: &Path) -> Result<(), AuditError> {
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_name().to_string_lossy().ends_with(".psnlog.tmp") {
            let path = entry.path();
            // A directory here is not ours to remove; creating the segment will report it.
            if path.is_file() {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
    }
    Ok(())
}

/// The segment being appended to.
struct Active {
    seq: u64,
    file: File,
    path: PathBuf,
    len: u64,
    next_index: u64,
    head: ChainHash,
    created_ms: i64,
    records: u64,
    unsealed: u64,
    certificates: HashSet<Vec<u8>>,
    /// The latest durable seal of the log, as a checkpoint.
    checkpoint: Option<Arc<Checkpoint>>,
}

/// What reading a segment back found.
struct Summary {
    header: Option<Header>,
    records: u64,
    unsealed: u64,
    closed: bool,
    certificates: HashSet<Vec<u8>>,
    /// Certificates by the serial their entry names, to export the last seal with its signer's.
    by_serial: HashMap<String, Vec<u8>>,
    /// The last seal and its position.
    last_seal: Option<(u64, Seal)>,
}

impl Summary {
    /// The last seal as a checkpoint of `log`'s segment `seq`, if it has one.
    fn checkpoint(&self, log: &str, seq: u64) -> Option<Arc<Checkpoint>> {
        let (index, seal) = self.last_seal.as_ref()?;
        let der = self.by_serial.get(&seal.signer_serial)?;
        Some(Arc::new(checkpoint_of(log, seq, *index, seal, der)))
    }
}

/// Reads a segment's entries for the writer's bookkeeping; anything after a final seal is
/// refused, since the writer never writes there.
fn summarise(data: &[u8]) -> (Summary, crate::scan::ScanEnd<String>) {
    let mut summary = Summary {
        header: None,
        records: 0,
        unsealed: 0,
        closed: false,
        certificates: HashSet::new(),
        by_serial: HashMap::new(),
        last_seal: None,
    };
    let end = scan(data, |scanned| {
        if summary.closed {
            return Err(format!(
                "entry {} follows the segment's final seal",
                scanned.position
            ));
        }
        match scanned.entry {
            Entry::Header(h) => summary.header = Some(h),
            Entry::Certificate(c) => {
                if let Some(der) = c.der_bytes() {
                    summary.by_serial.insert(c.serial, der.clone());
                    summary.certificates.insert(der);
                }
            }
            Entry::Record(_) => {
                summary.records += 1;
                summary.unsealed += 1;
            }
            Entry::Seal(seal) => {
                summary.unsealed = 0;
                summary.closed = seal.last;
                summary.last_seal = Some((scanned.position, seal));
            }
        }
        Ok(())
    });
    (summary, end)
}

/// Opens the newest segment: truncates a torn tail, checks it is this gateway's, and continues
/// it, or starts the next one if it was closed.
fn recover(
    layout: &Layout,
    newest: &SegmentFile,
    log: &str,
) -> Result<(Active, Recovery), AuditError> {
    let path = &newest.path;
    let corrupt = |reason: String| AuditError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let data = newest.read()?;
    let (summary, end) = summarise(&data);
    let mut torn = None;
    if let Some(stop) = &end.stop {
        match torn_tail(stop, &data) {
            Some(reason) if !newest.archived && end.entries > 0 => {
                torn = Some(TornTail {
                    segment: newest.seq,
                    offset: end.valid_len,
                    bytes: data.len() as u64 - end.valid_len,
                    reason,
                });
            }
            _ => return Err(corrupt(stop.to_string())),
        }
    }
    let header = summary
        .header
        .as_ref()
        .ok_or_else(|| corrupt("the segment has no header".into()))?;
    if header.log != log {
        return Err(corrupt(format!(
            "this is the audit log of {}, not of {log}",
            header.log
        )));
    }
    if header.segment != newest.seq || header.format != FORMAT {
        return Err(corrupt(format!(
            "the header says segment {} in format {:?}; expected segment {} in {FORMAT:?}",
            header.segment, header.format, newest.seq
        )));
    }
    if torn.is_some() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(end.valid_len).map_err(io_error(path))?;
        file.sync_all().map_err(io_error(path))?;
    }
    if summary.closed || newest.archived {
        if newest.archived && !summary.closed {
            return Err(corrupt("an archived segment has no final seal".into()));
        }
        let mut next = create_segment(layout, newest.seq + 1, log, end.head)?;
        next.checkpoint = summary.checkpoint(log, newest.seq);
        let recovery = Recovery {
            segment: next.seq,
            records: 0,
            unsealed_records: 0,
            torn_tail: torn,
            started_segment: true,
        };
        return Ok((next, recovery));
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    let recovery = Recovery {
        segment: newest.seq,
        records: summary.records,
        unsealed_records: summary.unsealed,
        torn_tail: torn,
        started_segment: false,
    };
    let active = Active {
        seq: newest.seq,
        file,
        path: path.clone(),
        len: end.valid_len,
        next_index: end.entries,
        head: end.head,
        created_ms: header.created_ms,
        records: summary.records,
        unsealed: summary.unsealed,
        checkpoint: summary.checkpoint(log, newest.seq),
        certificates: summary.certificates,
    };
    Ok((active, recovery))
}

/// Creates segment `seq` with its header, atomically (written under a temporary name, synced,
/// renamed, directory synced), so a segment file always starts with a whole header.
fn create_segment(
    layout: &Layout,
    seq: u64,
    log: &str,
    previous_head: ChainHash,
) -> Result<Active, AuditError> {
    let path = layout.segment(seq);
    if path.exists() {
        return Err(AuditError::Corrupt {
            path: path.display().to_string(),
            reason: "the next segment already exists".into(),
        });
    }
    let created_ms = now_ms();
    let header = Entry::Header(Header {
        format: FORMAT.into(),
        log: log.to_owned(),
        segment: seq,
        previous_head,
        created_ms,
    });
    let mut data = MAGIC.to_vec();
    let head = encode_frame(&mut data, &previous_head, 0, &encode_entry(&header));
    crate::layout::write_atomically(&path, &data)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(io_error(&path))?;
    Ok(Active {
        seq,
        file,
        path,
        len: data.len() as u64,
        next_index: 1,
        head,
        created_ms,
        records: 0,
        unsealed: 0,
        certificates: HashSet::new(),
        checkpoint: None,
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A reply owed once the batch is written (or synced).
enum Ack {
    Record(Reply<RecordReceipt>, RecordReceipt),
    Unit(Reply<()>),
}

impl Ack {
    fn send(self, failure: Option<&str>) {
        let error = || AuditError::Unavailable {
            reason: failure.unwrap_or_default().to_owned(),
        };
        match self {
            Ack::Record(reply, receipt) => {
                let _ = reply.send(failure.map_or(Ok(receipt), |_| Err(error())));
            }
            Ack::Unit(reply) => {
                let _ = reply.send(failure.map_or(Ok(()), |_| Err(error())));
            }
        }
    }
}

struct Writer {
    layout: Layout,
    options: LogOptions,
    log: String,
    sealer: Sealer,
    segment: Active,
    status: watch::Sender<LogStatus>,
    flush_deadline: Option<Instant>,
    last_seal: Instant,
    failed: Option<String>,
    appended: u64,
    seals: u64,
    syncs: u64,
    last_seal_ms: Option<i64>,
    /// The latest seal written but not yet synced: it becomes the checkpoint once durable, so
    /// no one is shown a seal a power failure could still take back.
    pending_checkpoint: Option<Arc<Checkpoint>>,
}

impl Writer {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        loop {
            let first = match self.next_deadline() {
                Some(deadline) => {
                    match commands.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(command) => Some(command),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                },
            };
            let mut batch: Vec<Command> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            if self.process(batch) {
                return;
            }
        }
        // Every handle is gone: leave what was appended sealed and synced.
        let (reply, _) = oneshot::channel();
        self.process(vec![Command::Close(reply)]);
    }

    /// When the writer must wake without a command: a buffered sync, a timed seal or an
    /// age rotation.
    fn next_deadline(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        // Deadlines too far away to represent are no deadlines.
        let seal = (self.segment.unsealed > 0)
            .then(|| self.last_seal.checked_add(self.options.seal_interval))
            .flatten();
        let rotate = (self.segment.records > 0)
            .then(|| {
                let age_ms =
                    u64::try_from(now_ms().saturating_sub(self.segment.created_ms)).unwrap_or(0);
                let left = self
                    .options
                    .max_segment_age
                    .saturating_sub(Duration::from_millis(age_ms));
                Instant::now().checked_add(left)
            })
            .flatten();
        [self.flush_deadline, seal, rotate]
            .into_iter()
            .flatten()
            .min()
    }

    /// Handles one batch; returns whether the writer should stop.
    fn process(&mut self, batch: Vec<Command>) -> bool {
        if let Some(reason) = self.failed.clone() {
            return self.refuse_all(batch, &reason);
        }
        let mut buf = Vec::new();
        let mut after_write = Vec::new();
        let mut after_sync = Vec::new();
        let mut need_sync = false;
        let mut close = None;
        for command in batch {
            if close.is_some() {
                refuse(command, AuditError::Closed);
                continue;
            }
            match command {
                Command::Append {
                    payload,
                    certificate,
                    durability,
                    reply,
                } => {
                    if let Some(der) = &certificate {
                        if let Err(e) = self.ensure_certificate(&mut buf, der) {
                            let _ = reply.send(Err(AuditError::InvalidRecord(format!(
                                "the peer certificate is unreadable: {e}"
                            ))));
                            continue;
                        }
                    }
                    let (index, chain_head) = self.push(&mut buf, &payload);
                    self.segment.records += 1;
                    self.segment.unsealed += 1;
                    self.appended += 1;
                    let receipt = RecordReceipt {
                        segment: self.segment.seq,
                        index,
                        chain_head,
                    };
                    match durability {
                        Durability::Durable => {
                            need_sync = true;
                            after_sync.push(Ack::Record(reply, receipt));
                        }
                        Durability::Buffered { max_delay } => {
                            if let Some(due) = Instant::now().checked_add(max_delay) {
                                self.flush_deadline =
                                    Some(self.flush_deadline.map_or(due, |d| d.min(due)));
                            }
                            after_write.push(Ack::Record(reply, receipt));
                        }
                    }
                    if self.segment.unsealed >= self.options.seal_every_records {
                        self.seal(&mut buf, false);
                        need_sync = true;
                    }
                }
                Command::SetSealer(sealer, reply) => {
                    self.sealer = *sealer;
                    after_write.push(Ack::Unit(reply));
                }
                Command::Seal(reply) => {
                    if self.segment.unsealed > 0 {
                        self.seal(&mut buf, false);
                    }
                    need_sync = true;
                    after_sync.push(Ack::Unit(reply));
                }
                Command::Close(reply) => close = Some(reply),
            }
        }
        let now = Instant::now();
        if self.segment.unsealed > 0
            && (close.is_some()
                || self
                    .last_seal
                    .checked_add(self.options.seal_interval)
                    .is_some_and(|due| due <= now))
        {
            self.seal(&mut buf, false);
            need_sync = true;
        }
        if close.is_some() || self.flush_deadline.is_some_and(|d| d <= now) {
            need_sync = true;
        }
        // Counters are published before replies go out, so a caller that has its answer sees a
        // status that includes its record.
        if let Err(reason) = self.write(&buf) {
            self.fail(reason);
        }
        self.publish(false);
        let failure = self.failed.clone();
        for ack in after_write {
            ack.send(failure.as_deref());
        }
        if self.failed.is_none() && need_sync {
            if let Err(reason) = self.sync() {
                self.fail(reason);
            }
            self.publish(false);
        }
        let failure = self.failed.clone();
        for ack in after_sync {
            ack.send(failure.as_deref());
        }
        if self.failed.is_none() && close.is_none() && self.due_for_rotation() {
            if let Err(reason) = self.rotate() {
                self.fail(reason);
            }
            self.publish(false);
        }
        match close {
            Some(reply) => {
                let result = match &self.failed {
                    Some(reason) => Err(AuditError::Unavailable {
                        reason: reason.clone(),
                    }),
                    None => Ok(()),
                };
                self.publish(true);
                let _ = reply.send(result);
                true
            }
            None => false,
        }
    }

    /// Answers a batch on a failed log; returns whether to stop (on close).
    fn refuse_all(&mut self, batch: Vec<Command>, reason: &str) -> bool {
        let mut stop = false;
        for command in batch {
            match command {
                Command::Close(reply) => {
                    let _ = reply.send(Ok(()));
                    stop = true;
                }
                other => refuse(
                    other,
                    AuditError::Unavailable {
                        reason: reason.to_owned(),
                    },
                ),
            }
        }
        if stop {
            self.publish(true);
        }
        stop
    }

    fn fail(&mut self, reason: String) {
        tracing::error!(%reason, "audit log failed: refusing further appends");
        self.failed = Some(reason);
        self.flush_deadline = None;
    }

    fn publish(&self, closed: bool) {
        let health = match (&self.failed, closed) {
            (_, true) => Health::Closed,
            (Some(reason), false) => Health::Failed {
                reason: reason.clone(),
            },
            (None, false) => Health::Ok,
        };
        self.status.send_replace(LogStatus {
            health,
            segment: self.segment.seq,
            segment_bytes: self.segment.len,
            appended: self.appended,
            unsealed_records: self.segment.unsealed,
            seals: self.seals,
            syncs: self.syncs,
            last_seal_ms: self.last_seal_ms,
            checkpoint: self.segment.checkpoint.clone(),
        });
    }

    /// Frames `payload` as the next entry into `buf`.
    fn push(&mut self, buf: &mut Vec<u8>, payload: &[u8]) -> (u64, ChainHash) {
        let index = self.segment.next_index;
        self.segment.head = encode_frame(buf, &self.segment.head, index, payload);
        self.segment.next_index += 1;
        (index, self.segment.head)
    }

    /// Writes a certificate entry unless the segment already holds this certificate.
    fn ensure_certificate(&mut self, buf: &mut Vec<u8>, der: &[u8]) -> Result<(), String> {
        if self.segment.certificates.contains(der) {
            return Ok(());
        }
        let info = psn_pki::CertificateInfo::from_der(der).map_err(|e| e.to_string())?;
        self.push(buf, &encode_entry(&certificate_entry(&info.serial, der)));
        self.segment.certificates.insert(der.to_vec());
        Ok(())
    }

    /// Signs the chain so far into `buf`.
    fn seal(&mut self, buf: &mut Vec<u8>, last: bool) {
        if !self
            .segment
            .certificates
            .contains(&self.sealer.certificate_der)
        {
            let der = self.sealer.certificate_der.clone();
            self.push(
                buf,
                &encode_entry(&certificate_entry(&self.sealer.serial, &der)),
            );
            self.segment.certificates.insert(der);
        }
        let at_ms = now_ms();
        let mut seal = Seal {
            chain_head: self.segment.head,
            records: self.segment.records,
            at_ms,
            signer_serial: self.sealer.serial.clone(),
            signature: String::new(),
            last,
        };
        let index = self.segment.next_index;
        let signed = seal.signed_bytes(&self.log, self.segment.seq, index);
        seal.signature = b64url(&self.sealer.signer.sign(&signed));
        self.pending_checkpoint = Some(Arc::new(checkpoint_of(
            &self.log,
            self.segment.seq,
            index,
            &seal,
            &self.sealer.certificate_der,
        )));
        self.push(buf, &encode_entry(&Entry::Seal(seal)));
        self.segment.unsealed = 0;
        self.last_seal = Instant::now();
        self.last_seal_ms = Some(at_ms);
        self.seals += 1;
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), String> {
        if buf.is_empty() {
            return Ok(());
        }
        match self.segment.file.write_all(buf) {
            Ok(()) => {
                self.segment.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: leave no partial frame for the next open to find.
                let _ = self.segment.file.set_len(self.segment.len);
                Err(format!("writing {}: {e}", self.segment.path.display()))
            }
        }
    }

    fn sync(&mut self) -> Result<(), String> {
        self.segment
            .file
            .sync_data()
            .map_err(|e| format!("syncing {}: {e}", self.segment.path.display()))?;
        self.syncs += 1;
        self.flush_deadline = None;
        if let Some(checkpoint) = self.pending_checkpoint.take() {
            self.segment.checkpoint = Some(checkpoint);
        }
        Ok(())
    }

    fn due_for_rotation(&self) -> bool {
        let age_ms = u64::try_from(now_ms().saturating_sub(self.segment.created_ms)).unwrap_or(0);
        self.segment.records > 0
            && (self.segment.len >= self.options.max_segment_bytes
                || Duration::from_millis(age_ms) >= self.options.max_segment_age)
    }

    /// Closes the active segment with a final seal and starts the next, chaining on.
    fn rotate(&mut self) -> Result<(), String> {
        let mut buf = Vec::new();
        self.seal(&mut buf, true);
        self.write(&buf)?;
        self.sync()?;
        let next = create_segment(
            &self.layout,
            self.segment.seq + 1,
            &self.log,
            self.segment.head,
        )
        .map_err(|e| format!("starting the next segment: {e}"))?;
        let checkpoint = self.segment.checkpoint.take();
        self.segment = next;
        self.segment.checkpoint = checkpoint;
        Ok(())
    }
}

fn refuse(command: Command, error: AuditError) {
    match command {
        Command::Append { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::SetSealer(_, reply) | Command::Seal(reply) | Command::Close(reply) => {
            let _ = reply.send(Err(error));
        }
    }
}
