//! The store: a redb database, a coalescing write buffer and the writer thread that commits it in
//! batches.
//!
//! # Write path
//! [`Store::put`] inserts into the write buffer under a short lock (a later write of the same key
//! replaces the earlier one, so the buffer never holds more entries than there are live keys plus
//! deletions) and wakes the writer. The writer takes the whole buffer, writes it in one
//! transaction and commits it as the [`Fsync`] mode says, then publishes the highest ticket made
//! durable on a watch channel. Acknowledgements that must wait (an MQTT PUBACK for a persisted
//! message) wait for that value; a connection holds at most a bounded number of waiting
//! acknowledgements and stops reading beyond it, which is the back-pressure of the write path.
//!
//! A failed commit (disk full, I/O error) is logged and counted; its writes go back into the
//! buffer (under anything written since) and the writer retries with a growing pause. Nothing is
//! acknowledged meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use switchboard_fabric::durable::{self, Durable, Ticket};
use tokio::sync::watch;

use crate::backend::NoSync;
use crate::error::StoreError;
use crate::metrics::StoreMetrics;

/// The database file inside `storage.path`.
pub const FILE_NAME: &str = "switchboard.redb";

/// When commits are forced to disk (`storage.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Every batch is fsync'd before what it holds is acknowledged.
    Always,
    /// Batches are committed without fsync and acknowledged at once; every interval a commit
    /// with fsync makes everything before it durable.
    Interval(Duration),
    /// Batches are written to the operating system (surviving a crash of the process) and never
    /// fsync'd.
    Never,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The directory (`storage.path`); created when missing.
    pub dir: PathBuf,
    /// The fsync mode.
    pub fsync: Fsync,
}

type Key = (&'static str, Vec<u8>);
type Entries = Vec<(Vec<u8>, Vec<u8>)>;
type TableWrites<'a> = BTreeMap<&'static str, Vec<(&'a [u8], Option<&'a [u8]>)>>;

#[derive(Debug, Default)]
struct Pending {
    puts: HashMap<Key, Option<Vec<u8>>>,
    prefixes: Vec<Key>,
    /// The last ticket issued.
    seq: u64,
    /// The last ticket committed (visible to reads).
    committed: u64,
    stop: bool,
    /// The writer thread has ended.
    gone: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.prefixes.is_empty()
    }
}

struct Batch {
    puts: HashMap<Key, Option<Vec<u8>>>,
    prefixes: Vec<Key>,
    seq: u64,
}

struct Inner {
    /// Taken out at close, which releases the file's lock.
    db: RwLock<Option<Database>>,
    file: PathBuf,
    fsync: Fsync,
    pending: Mutex<Pending>,
    /// Wakes the writer.
    wake: Condvar,
    /// Wakes those waiting for a commit.
    done: Condvar,
    durable: watch::Sender<u64>,
    metrics: StoreMetrics,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// The embedded store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("file", &self.inner.file)
            .field("fsync", &self.inner.fsync)
            .finish_non_exhaustive()
    }
}

/// Checks that `dir` is (or can be created as) a writable directory, creating it.
pub fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Directory {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(format!(".switchboard-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(err)?;
    std::fs::remove_file(&probe).map_err(err)?;
    Ok(())
}

fn table(name: &'static str) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

impl Store {
    /// Opens (or creates) the store in `options.dir` and starts its writer thread. Fails when the
    /// directory is not writable or another process has the store open. With `fsync = "never"`,
    /// a store the machine's crash left unreadable is renamed aside and a new one is started.
    pub fn open(
        options: &StoreOptions,
        registry: &prometheus::Registry,
    ) -> Result<Store, StoreError> {
        prepare_dir(&options.dir)?;
        let file = options.dir.join(FILE_NAME);
        let db = match open_db(&file, options.fsync) {
            Ok(db) => db,
            Err(StoreError::Open { message, .. }) if options.fsync == Fsync::Never => {
                let aside = file.with_extension(format!(
                    "redb.unreadable-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                ));
                tracing::error!(
                    file = %file.display(), aside = %aside.display(), error = %message,
                    "the store is unreadable (fsync = \"never\" does not survive a machine crash); \
                     setting it aside and starting empty"
                );
                std::fs::rename(&file, &aside).map_err(|source| StoreError::Directory {
                    path: file.clone(),
                    source,
                })?;
                open_db(&file, options.fsync)?
            }
            Err(e) => return Err(e),
        };
        let metrics = StoreMetrics::register(registry)?;
        let (durable, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            db: RwLock::new(Some(db)),
            file,
            fsync: options.fsync,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            durable,
            metrics,
            writer: Mutex::new(None),
        });
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("switchboard-store".into())
            .spawn(move || {
                run_writer(&worker);
                worker.pending.lock().gone = true;
                worker.done.notify_all();
            })
            .map_err(StoreError::db)?;
        *inner.writer.lock() = Some(handle);
        inner.metrics.file_bytes.set(file_len(&inner.file));
        Ok(Store { inner })
    }

    /// The database file.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// The fsync mode.
    pub fn fsync(&self) -> Fsync {
        self.inner.fsync
    }

    /// Waits (blocking the thread) until everything written so far is committed.
    pub fn flush(&self) {
        let mut p = self.inner.pending.lock();
        let target = p.seq;
        while p.committed < target && !p.gone {
            self.inner.done.wait_for(&mut p, Duration::from_millis(100));
        }
    }

    /// Writes everything pending with fsync and stops the writer thread. Blocks; called once at
    /// shutdown, after the protocols stopped.
    pub fn close(&self) {
        self.inner.pending.lock().stop = true;
        self.inner.wake.notify_one();
        let handle = self.inner.writer.lock().take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
        drop(self.inner.db.write().take());
    }

    /// Writes not yet committed.
    pub fn pending(&self) -> usize {
        let p = self.inner.pending.lock();
        p.puts.len() + p.prefixes.len()
    }
}

fn file_len(file: &Path) -> i64 {
    std::fs::metadata(file).map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX))
}

fn open_db(file: &Path, fsync: Fsync) -> Result<Database, StoreError> {
    let result = match fsync {
        Fsync::Never => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(file)
            .map_err(redb::DatabaseError::from)
            .and_then(redb::backends::FileBackend::new)
            .and_then(|b| redb::Builder::new().create_with_backend(NoSync(b))),
        Fsync::Always | Fsync::Interval(_) => Database::create(file),
    };
    result.map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
            path: file.to_owned(),
        },
        other => StoreError::Open {
            path: file.to_owned(),
            message: other.to_string(),
        },
    })
}

impl Durable for Store {
    fn put(&self, table: &'static str, key: Vec<u8>, value: Option<Vec<u8>>) -> Ticket {
        let seq = {
            let mut p = self.inner.pending.lock();
            p.seq += 1;
            p.puts.insert((table, key), value);
            self.inner.metrics.pending.set(p.puts.len() as i64);
            p.seq
        };
        self.inner.wake.notify_one();
        durable::note(Ticket(seq));
        Ticket(seq)
    }

    fn delete_prefix(&self, table: &'static str, prefix: Vec<u8>) -> Ticket {
        let seq = {
            let mut p = self.inner.pending.lock();
            p.seq += 1;
            p.puts
                .retain(|(t, k), _| !(*t == table && k.starts_with(&prefix)));
            p.prefixes.push((table, prefix));
            p.seq
        };
        self.inner.wake.notify_one();
        durable::note(Ticket(seq));
        Ticket(seq)
    }

    fn load(&self, table_name: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.flush();
        let read = || -> Result<Entries, StoreError> {
            let db = self.inner.db.read();
            let db = db
                .as_ref()
                .ok_or_else(|| StoreError::db("the store is closed"))?;
            let txn = db.begin_read().map_err(StoreError::db)?;
            let t = match txn.open_table(table(table_name)) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(StoreError::db(e)),
            };
            let mut out = Vec::new();
            for entry in t.iter().map_err(StoreError::db)? {
                let (k, v) = entry.map_err(StoreError::db)?;
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(out)
        };
        read().unwrap_or_else(|e| {
            tracing::error!(table = table_name, error = %e, "cannot read the store");
            self.inner.metrics.errors.inc();
            Vec::new()
        })
    }

    fn watch(&self) -> watch::Receiver<u64> {
        self.inner.durable.subscribe()
    }

    fn acks_wait(&self) -> bool {
        !matches!(self.inner.fsync, Fsync::Interval(_))
    }
}

/// The smallest byte string greater than every string starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn write_batch(
    db: &RwLock<Option<Database>>,
    batch: &Batch,
    durable: bool,
) -> Result<(), StoreError> {
    let db = db.read();
    let db = db
        .as_ref()
        .ok_or_else(|| StoreError::db("the store is closed"))?;
    let mut txn = db.begin_write().map_err(StoreError::db)?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(StoreError::db)?;
    for (name, prefix) in &batch.prefixes {
        let mut t = txn.open_table(table(name)).map_err(StoreError::db)?;
        let upper = prefix_end(prefix);
        let range: (Bound<&[u8]>, Bound<&[u8]>) = (
            Bound::Included(prefix.as_slice()),
            match &upper {
                Some(u) => Bound::Excluded(u.as_slice()),
                None => Bound::Unbounded,
            },
        );
        t.retain_in::<&[u8], _>(range, |_, _| false)
            .map_err(StoreError::db)?;
    }
    let mut by_table: TableWrites<'_> = BTreeMap::new();
    for ((name, key), value) in &batch.puts {
        by_table
            .entry(name)
            .or_default()
            .push((key.as_slice(), value.as_deref()));
    }
    for (name, entries) in by_table {
        let mut t = txn.open_table(table(name)).map_err(StoreError::db)?;
        for (k, v) in entries {
            match v {
                Some(v) => {
                    t.insert(k, v).map_err(StoreError::db)?;
                }
                None => {
                    t.remove(k).map_err(StoreError::db)?;
                }
            }
        }
    }
    txn.commit().map_err(StoreError::db)
}

fn run_writer(inner: &Inner) {
    let interval = match inner.fsync {
        Fsync::Interval(d) => Some(d),
        Fsync::Always | Fsync::Never => None,
    };
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    let mut retry = Duration::from_millis(50);
    loop {
        let (batch, stop) = {
            let mut p = inner.pending.lock();
            loop {
                if !p.is_empty() || p.stop {
                    break;
                }
                match interval {
                    Some(d) if unsynced => {
                        let left = d.saturating_sub(last_sync.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        inner.wake.wait_for(&mut p, left);
                    }
                    _ => inner.wake.wait(&mut p),
                }
            }
            let batch = Batch {
                puts: std::mem::take(&mut p.puts),
                prefixes: std::mem::take(&mut p.prefixes),
                seq: p.seq,
            };
            inner.metrics.pending.set(0);
            (batch, p.stop)
        };
        let durable = match interval {
            None => true,
            Some(d) => stop || last_sync.elapsed() >= d,
        };
        let started = Instant::now();
        let writes = batch.puts.len() + batch.prefixes.len();
        match write_batch(&inner.db, &batch, durable) {
            Ok(()) => {
                retry = Duration::from_millis(50);
                inner.metrics.batches.inc();
                inner.metrics.writes.inc_by(writes as u64);
                inner
                    .metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                {
                    let mut p = inner.pending.lock();
                    p.committed = batch.seq;
                }
                inner.done.notify_all();
                if durable {
                    last_sync = Instant::now();
                    unsynced = false;
                    inner.durable.send_replace(batch.seq);
                } else {
                    unsynced = true;
                }
                inner.metrics.file_bytes.set(file_len(&inner.file));
            }
            Err(e) => {
                inner.metrics.errors.inc();
                tracing::error!(error = %e, writes, "storage commit failed; retrying");
                requeue(inner, batch);
                if stop && retry > Duration::from_secs(2) {
                    tracing::error!(
                        "giving up on the store at shutdown: unacknowledged writes lost"
                    );
                    return;
                }
                std::thread::sleep(retry);
                retry = (retry * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        if stop && inner.pending.lock().is_empty() {
            return;
        }
    }
}

/// Puts a failed batch back under what was written since.
fn requeue(inner: &Inner, batch: Batch) {
    let mut p = inner.pending.lock();
    let newer_prefixes = std::mem::take(&mut p.prefixes);
    let mut puts = batch.puts;
    puts.retain(|(t, k), _| {
        !newer_prefixes
            .iter()
            .any(|(pt, prefix)| pt == t && k.starts_with(prefix))
    });
    puts.extend(p.puts.drain());
    p.puts = puts;
    p.prefixes = batch.prefixes;
    p.prefixes.extend(newer_prefixes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
