//! sled behind a write-ahead log of our own: every write in the data directory goes through
//! here, the engine's records and the trees other parts keep beside them (catalog, users, the
//! API's idempotency keys).
//!
//! A write (one key, or a [`Batch`] of keys in any trees) is appended to the pending records
//! and shadows the keys it writes, so every read sees it at once. [`Database::flush`] commits
//! the pending records to the log (`wal`) with one write and one `fdatasync`, and only then
//! applies them to sled: sled never holds a write the log could lose, so replaying the log
//! over whatever sled recovered after a crash (even a power cut) gives back exactly the
//! committed writes, batches whole. sled itself is made durable only at checkpoints, when the
//! log has grown past `wal::CHECKPOINT_BYTES`, and at open.
//!
//! A background thread commits writes nobody flushes within about half a second, and applies
//! the writes of large commits to sled, so their callers do not wait for that. sled gets only
//! the last write of each key in what it is given. Values are laid down as `stored_value`
//! frames them (large ones LZ4-compressed), in the log and in sled alike.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sled::IVec;

use super::stored_value;
use super::wal::{self, WriteAheadLog};
use crate::EngineError;
use crate::store::StoreError;

/// Writes left pending this long are committed by the background thread.
const BACKGROUND_COMMIT: Duration = Duration::from_millis(500);
/// A commit applies its writes to sled itself up to this many bytes; more are applied by the
/// background thread (a sled insert copies the node it lands in: large values cost tens of
/// microseconds each).
const APPLY_INLINE_BYTES: usize = 4096;

/// A stored value, as a read returns it (shared, not copied).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredBytes(IVec);

impl std::ops::Deref for StoredBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for StoredBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for StoredBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// A key and its value, as scans return them.
pub type StoredPair = (StoredBytes, StoredBytes);

/// Why the embedded database could not read or write: sled's I/O or corruption errors, or
/// ours (a failed commit, a misused batch).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(sled::Error);

impl From<sled::Error> for DbError {
    fn from(e: sled::Error) -> Self {
        DbError(e)
    }
}

impl From<std::io::Error> for DbError {
    fn from(e: std::io::Error) -> Self {
        DbError(sled::Error::Io(e))
    }
}

impl From<DbError> for EngineError {
    fn from(e: DbError) -> Self {
        StoreError::unavailable(e).into()
    }
}

/// The data directory's database. Cloning it is cheap: clones share everything.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Open>,
}

/// One named keyspace of a [`Database`]. Cloning it is cheap.
#[derive(Clone)]
pub struct Tree {
    inner: Arc<Open>,
    index: usize,
    name: Arc<str>,
    sled: sled::Tree,
}

/// Writes to any trees of one database, applied together or not at all.
#[derive(Default)]
pub struct Batch {
    writes: Vec<PendingWrite>,
    /// The databases of the batch's trees (one, unless it is misused).
    databases: Vec<Arc<Open>>,
}

/// The database while any handle (a [`Database`] or a [`Tree`]) is held: dropping the last
/// one stops the background thread, commits what is left and closes sled, before it returns.
struct Open {
    inner: Arc<Inner>,
    background: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for Open {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

struct Inner {
    sled: sled::Db,
    /// sled's log file: `fdatasync` on it after sled's flush at checkpoints, since sled syncs
    /// with `sync_file_range`, which flushes neither the disk's cache nor the file size.
    sled_log: File,
    pending: Mutex<Pending>,
    /// Held while committing: one commit at a time, in the order the records were written.
    log: Mutex<WriteAheadLog>,
    /// Committed writes not yet applied to sled, in commit order (shadowed until they are).
    unapplied: Mutex<Vec<(u64, PendingWrite)>>,
    /// Held while applying: writes reach sled in commit order.
    applying: Mutex<()>,
    /// The background thread, to wake it early; and whether it is to stop.
    background: Mutex<Option<std::thread::Thread>>,
    stopping: AtomicBool,
}

#[derive(Default)]
struct Pending {
    /// The names of the trees opened so far; a tree's index is its place here.
    trees: Vec<Arc<str>>,
    next_seq: u64,
    /// Encoded records not yet committed to the log.
    records: Vec<u8>,
    /// Their writes, in order, to apply to sled once committed.
    writes: Vec<(u64, PendingWrite)>,
    /// Per tree: the latest uncommitted or unapplied write of each key.
    shadows: Vec<BTreeMap<IVec, Shadow>>,
    /// When the oldest pending record was written.
    oldest: Option<Instant>,
    /// A failed commit: the log's state on disk is unknown, so nothing more is accepted.
    failed: Option<String>,
}

#[derive(Clone)]
struct PendingWrite {
    index: usize,
    name: Arc<str>,
    sled: sled::Tree,
    key: IVec,
    value: Option<IVec>,
}

struct Shadow {
    seq: u64,
    value: Option<IVec>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_error(message: impl Into<String>) -> DbError {
    DbError(sled::Error::Io(std::io::Error::other(message.into())))
}

impl Database {
    /// Opens (or creates) the database in `dir`, replaying what the log committed after sled's
    /// last checkpoint. Only one process may hold it open.
    pub fn open(dir: &Path) -> Result<Database, EngineError> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let sled = sled::Config::new()
            .path(dir.join("state"))
            .flush_every_ms(Some(500))
            // sled's page cache defaults to 1 GiB; bound it so a long-lived server stays small.
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    EngineError::StoreLocked {
                        path: dir.display().to_string(),
                    }
                }
                other => StoreError::unavailable(DbError(other)).into(),
            })?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| EngineError::Io { path, source }
        };
        let sled_log_path = dir.join("state").join("db");
        let sled_log = File::open(&sled_log_path).map_err(io(&sled_log_path))?;
        let log_path = dir.join("state.wal");
        let (mut log, records) = WriteAheadLog::open(&log_path).map_err(io(&log_path))?;
        if !records.is_empty() {
            for write in records.iter().flatten() {
                let tree = sled.open_tree(&write.tree).map_err(store_error)?;
                match &write.value {
                    Some(value) => tree.insert(write.key.as_slice(), value.as_slice()),
                    None => tree.remove(write.key.as_slice()),
                }
                .map_err(store_error)?;
            }
            sled.flush().map_err(store_error)?;
            sled_log.sync_data().map_err(io(&sled_log_path))?;
        }
        log.start_over().map_err(io(&log_path))?;
        let inner = Arc::new(Inner {
            sled,
            sled_log,
            pending: Mutex::new(Pending::default()),
            log: Mutex::new(log),
            unapplied: Mutex::new(Vec::new()),
            applying: Mutex::new(()),
            background: Mutex::new(None),
            stopping: AtomicBool::new(false),
        });
        let background = Inner::start_background_work(&inner);
        Ok(Database {
            inner: Arc::new(Open { inner, background }),
        })
    }

    /// The tree called `name`, created empty if there is none.
    pub fn open_tree(&self, name: &str) -> Result<Tree, DbError> {
        if name.len() > wal::MAX_TREE_NAME {
            return Err(io_error(format!(
                "a tree name is at most {} bytes; `{name}` is longer",
                wal::MAX_TREE_NAME
            )));
        }
        let sled = self.inner.sled.open_tree(name)?;
        let mut pending = lock(&self.inner.pending);
        // A tree's place among the shadows is the order trees were first opened in.
        let index = match pending.trees.iter().position(|n| &**n == name) {
            Some(index) => index,
            None => {
                pending.trees.push(name.into());
                pending.shadows.push(BTreeMap::new());
                pending.trees.len() - 1
            }
        };
        let name = pending.trees[index].clone();
        Ok(Tree {
            inner: self.inner.clone(),
            index,
            name,
            sled,
        })
    }

    /// Applies `batch`'s writes together: readers see all of them or none, and a crash keeps
    /// all of them or none.
    pub fn apply(&self, batch: Batch) -> Result<(), DbError> {
        if batch
            .databases
            .iter()
            .any(|inner| !Arc::ptr_eq(inner, &self.inner))
        {
            return Err(io_error("a batch holds a tree of another database"));
        }
        let mut pending = lock(&self.inner.pending);
        pending.write(batch.writes)
    }

    /// Makes every write made before the call durable: commits the pending records to the log
    /// (one write, one `fdatasync`). Calls that meet share one commit.
    pub fn flush(&self) -> Result<(), DbError> {
        self.inner.commit()
    }
}

impl Pending {
    fn write(&mut self, writes: Vec<PendingWrite>) -> Result<(), DbError> {
        if let Some(failed) = &self.failed {
            return Err(io_error(failed.clone()));
        }
        if writes.is_empty() {
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        wal::encode_record(
            &mut self.records,
            writes
                .iter()
                .map(|w| (&*w.name, w.key.as_ref(), w.value.as_deref())),
        );
        for write in writes {
            self.shadows[write.index].insert(
                write.key.clone(),
                Shadow {
                    seq,
                    value: write.value.clone(),
                },
            );
            self.writes.push((seq, write));
        }
        self.oldest.get_or_insert_with(Instant::now);
        Ok(())
    }
}

impl Inner {
    fn commit(&self) -> Result<(), DbError> {
        let mut log = lock(&self.log);
        let (mut records, writes) = {
            let mut pending = lock(&self.pending);
            if let Some(failed) = &pending.failed {
                return Err(io_error(failed.clone()));
            }
            if pending.records.is_empty() {
                return Ok(());
            }
            pending.oldest = None;
            (
                std::mem::take(&mut pending.records),
                std::mem::take(&mut pending.writes),
            )
        };
        if let Err(e) = log.commit(&mut records) {
            self.fail(&e);
            return Err(e.into());
        }
        // Committed: sled may have the writes now. A small commit with nothing queued before
        // it is applied here; the rest is left to the background thread, so the commit's
        // callers wait neither on sled nor behind an earlier commit being applied.
        let bytes: usize = writes
            .iter()
            .map(|(_, w)| w.key.len() + w.value.as_ref().map_or(0, |v| v.len()))
            .sum();
        let apply_here = {
            let mut unapplied = lock(&self.unapplied);
            let apply_here = unapplied.is_empty() && bytes <= APPLY_INLINE_BYTES;
            unapplied.extend(writes);
            apply_here
        };
        if log.len() > wal::CHECKPOINT_BYTES {
            // Make sled hold everything the log does, make it durable, and start over.
            self.apply_committed()?;
            self.sled.flush()?;
            self.sled_log.sync_data()?;
            log.start_over()?;
        } else if apply_here {
            drop(log);
            self.apply_committed()?;
        } else if let Some(thread) = &*lock(&self.background) {
            thread.unpark();
        }
        Ok(())
    }

    /// Applies the committed writes to sled, in order, and drops their shadows.
    fn apply_committed(&self) -> Result<(), DbError> {
        let _applying = lock(&self.applying);
        let writes = std::mem::take(&mut *lock(&self.unapplied));
        if writes.is_empty() {
            return Ok(());
        }
        // Only the last write of each key reaches sled: the ones it overwrites would each cost
        // a sled insert (a copy of the node it lands in) for a value nobody can read, since
        // every write here stays shadowed until all are applied. A run's record, its index
        // entries and the ledger's holds are written several times within one commit.
        let mut last = HashMap::with_capacity(writes.len());
        for (at, (_, write)) in writes.iter().enumerate() {
            last.insert((write.index, &write.key), at);
        }
        for (at, (_, write)) in writes.iter().enumerate() {
            if last.get(&(write.index, &write.key)) != Some(&at) {
                continue;
            }
            let applied = match &write.value {
                Some(value) => write.sled.insert(&write.key, value.clone()).map(|_| ()),
                None => write.sled.remove(&write.key).map(|_| ()),
            };
            if let Err(e) = applied {
                self.fail(&e);
                return Err(e.into());
            }
        }
        let mut pending = lock(&self.pending);
        for (seq, write) in writes {
            if let Entry::Occupied(shadow) = pending.shadows[write.index].entry(write.key)
                && shadow.get().seq <= seq
            {
                shadow.remove();
            }
        }
        Ok(())
    }

    /// After a failed write the state on disk is unknown: the writes made stay shadowed
    /// (readers keep seeing them) but nothing more is accepted. Reopening replays the log.
    fn fail(&self, error: &dyn std::fmt::Display) {
        lock(&self.pending).failed = Some(format!("the store could not commit: {error}"));
    }

    fn start_background_work(inner: &Arc<Inner>) -> Option<std::thread::JoinHandle<()>> {
        let shared = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("techpack-commit".into())
            .spawn(move || {
                let inner = shared;
                while !inner.stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(BACKGROUND_COMMIT / 5);
                    if let Err(e) = inner.apply_committed() {
                        tracing::error!("the store could not apply committed writes: {e}");
                    }
                    let due = lock(&inner.pending)
                        .oldest
                        .is_some_and(|t| t.elapsed() >= BACKGROUND_COMMIT);
                    if due && let Err(e) = inner.commit() {
                        tracing::error!("background commit of the store failed: {e}");
                    }
                }
            });
        match spawned {
            Ok(handle) => {
                *lock(&inner.background) = Some(handle.thread().clone());
                Some(handle)
            }
            Err(e) => {
                tracing::warn!("no background commits (writes wait for a flush): {e}");
                None
            }
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.inner.stopping.store(true, Ordering::Release);
        if let Some(handle) = self.background.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
        if let Err(e) = self.commit().and_then(|()| self.apply_committed()) {
            tracing::error!("the store's last writes could not be committed: {e}");
        }
        // The background thread's reference is gone: sled closes as `inner` drops, now.
    }
}

impl Tree {
    /// The latest value of `key`, committed or not.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<StoredBytes>, DbError> {
        let key = key.as_ref();
        if let Some(shadow) = lock(&self.inner.pending).shadows[self.index].get(key) {
            return shadow.value.clone().map(read).transpose();
        }
        self.sled.get(key)?.map(read).transpose()
    }

    /// Whether `key` has a value, committed or not (the value is not read back).
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, DbError> {
        let key = key.as_ref();
        if let Some(shadow) = lock(&self.inner.pending).shadows[self.index].get(key) {
            return Ok(shadow.value.is_some());
        }
        Ok(self.sled.contains_key(key)?)
    }

    /// Sets `key` to `value`: seen by every read at once, durable after the next
    /// [`Database::flush`] (or the background commit, within ~500 ms).
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), DbError> {
        let mut batch = Batch::default();
        batch.insert(self, key, value);
        lock(&self.inner.pending).write(batch.writes)
    }

    /// Removes `key`, as [`Tree::insert`] sets it.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), DbError> {
        let mut batch = Batch::default();
        batch.remove(self, key);
        lock(&self.inner.pending).write(batch.writes)
    }

    /// Sets `key` to `new` if its value is `old` (`None`: absent), atomically with every other
    /// write; otherwise leaves it and returns what it holds (`Err(None)`: absent).
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<&[u8]>,
        new: Option<impl AsRef<[u8]>>,
    ) -> Result<Result<(), Option<StoredBytes>>, DbError> {
        let key = key.as_ref();
        let new = new.map(|value| stored_value::encode(value.as_ref()));
        let mut pending = lock(&self.inner.pending);
        let current = match pending.shadows[self.index].get(key) {
            Some(shadow) => shadow.value.clone(),
            // Unshadowed keys change only through `pending`, which is held.
            None => self.sled.get(key)?,
        };
        let current = current.map(read).transpose()?;
        if current.as_deref() != old {
            return Ok(Err(current));
        }
        pending.write(vec![self.write(key, new)])?;
        Ok(Ok(()))
    }

    /// Every key under `prefix` and its latest value, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Vec<StoredPair>, DbError> {
        let prefix = prefix.as_ref();
        // Shadows first: a write applied to sled while it is scanned stays shadowed until
        // after, so it is seen either way.
        let shadows: Vec<(IVec, Option<IVec>)> = lock(&self.inner.pending).shadows[self.index]
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, shadow)| (key.clone(), shadow.value.clone()))
            .collect();
        let stored = self.sled.scan_prefix(prefix);
        let pair = |(key, value)| Ok((StoredBytes(key), read(value)?));
        if shadows.is_empty() {
            return stored.map(|kv| pair(kv?)).collect();
        }
        let mut merged = stored.collect::<Result<BTreeMap<IVec, IVec>, _>>()?;
        for (key, value) in shadows {
            match value {
                Some(value) => merged.insert(key, value),
                None => merged.remove(&key),
            };
        }
        merged.into_iter().map(pair).collect()
    }

    /// Every key and its latest value, in key order.
    pub fn iter(&self) -> Result<Vec<StoredPair>, DbError> {
        self.scan_prefix([])
    }

    /// The keys under `prefix` (and below `before`, when given) with their latest values,
    /// last key first, read lazily: a caller that stops after a page reads only that page.
    pub fn scan_prefix_back(
        &self,
        prefix: &[u8],
        before: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<StoredPair, DbError>> + use<> {
        let upper = match before {
            Some(before) => Bound::Excluded(IVec::from(before)),
            None => prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        };
        let range = (Bound::Included(IVec::from(prefix)), upper);
        // The pending writes in the range are few (the ones not yet applied to sled): taken
        // now, then merged with sled's keys as they are read.
        let shadows: Vec<(IVec, Option<IVec>)> = lock(&self.inner.pending).shadows[self.index]
            .range::<IVec, _>(range.clone())
            .rev()
            .map(|(key, shadow)| (key.clone(), shadow.value.clone()))
            .collect();
        let stored = self.sled.range::<IVec, _>(range).rev().peekable();
        MergeBack {
            stored,
            shadows: shadows.into_iter().peekable(),
        }
    }

    fn write(&self, key: &[u8], value: Option<IVec>) -> PendingWrite {
        PendingWrite {
            index: self.index,
            name: self.name.clone(),
            sled: self.sled.clone(),
            key: key.into(),
            value,
        }
    }
}

/// The value sled or a pending write holds, as it was written (see `stored_value`).
fn read(stored: IVec) -> Result<StoredBytes, DbError> {
    stored_value::decode(stored).map(StoredBytes)
}

/// The first key after every key that starts with `prefix` (`None`: there is none).
fn prefix_end(prefix: &[u8]) -> Option<IVec> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(IVec::from(end));
        }
    }
    None
}

/// sled's keys, last first, with the pending writes laid over them.
struct MergeBack<S: Iterator<Item = Result<(IVec, IVec), sled::Error>>> {
    stored: std::iter::Peekable<S>,
    shadows: std::iter::Peekable<std::vec::IntoIter<(IVec, Option<IVec>)>>,
}

impl<S: Iterator<Item = Result<(IVec, IVec), sled::Error>>> Iterator for MergeBack<S> {
    type Item = Result<StoredPair, DbError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let stored_key = match self.stored.peek() {
                Some(Ok((key, _))) => Some(key.clone()),
                Some(Err(_)) => {
                    let Some(Err(e)) = self.stored.next() else {
                        unreachable!("peeked an error")
                    };
                    return Some(Err(e.into()));
                }
                None => None,
            };
            let shadow_first = match (&stored_key, self.shadows.peek()) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(stored), Some((shadow, _))) => shadow >= stored,
            };
            if !shadow_first {
                let (key, value) = self.stored.next()?.ok()?;
                return Some(read(value).map(|value| (StoredBytes(key), value)));
            }
            let (key, value) = self.shadows.next()?;
            if stored_key.as_ref() == Some(&key) {
                // The pending write replaces what sled holds for the key.
                self.stored.next();
            }
            if let Some(value) = value {
                return Some(read(value).map(|value| (StoredBytes(key), value)));
            }
        }
    }
}

impl Batch {
    pub fn insert(&mut self, tree: &Tree, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let value = stored_value::encode(value.as_ref());
        self.push(tree, tree.write(key.as_ref(), Some(value)));
    }

    pub fn remove(&mut self, tree: &Tree, key: impl AsRef<[u8]>) {
        self.push(tree, tree.write(key.as_ref(), None));
    }

    fn push(&mut self, tree: &Tree, write: PendingWrite) {
        if !self.databases.iter().any(|d| Arc::ptr_eq(d, &tree.inner)) {
            self.databases.push(tree.inner.clone());
        }
        self.writes.push(write);
    }
}

pub(super) fn store_error(e: impl Into<DbError>) -> EngineError {
    e.into().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens `dir` again after every handle to it was dropped, as a restarted process does:
    /// sled's background threads let go of the directory lock shortly after the last handle,
    /// so only that is waited out.
    fn open_again(dir: &Path) -> Database {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Database::open(dir) {
                Err(EngineError::StoreLocked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                opened => return opened.unwrap(),
            }
        }
    }

    fn values(entries: Vec<StoredPair>) -> Vec<(String, String)> {
        entries
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_see_writes_before_and_after_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        for key in ["a/1", "a/2", "a/3", "b/1"] {
            tree.insert(key, key.as_bytes()).unwrap();
        }
        db.flush().unwrap();
        // Uncommitted: one changed, one removed, one added, in and out of the prefix.
        tree.insert("a/2", b"two".as_slice()).unwrap();
        tree.remove("a/3").unwrap();
        tree.insert("a/0", b"zero".as_slice()).unwrap();
        tree.insert("c/1", b"c".as_slice()).unwrap();
        let expected = vec![
            ("a/0".to_string(), "zero".to_string()),
            ("a/1".to_string(), "a/1".to_string()),
            ("a/2".to_string(), "two".to_string()),
        ];
        assert_eq!(tree.get("a/3").unwrap(), None);
        assert_eq!(tree.get("a/2").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(values(tree.scan_prefix("a/").unwrap()), expected);
        // sled itself has none of it until the log does.
        assert_eq!(tree.sled.get("a/0").unwrap(), None);
        db.flush().unwrap();
        assert_eq!(values(tree.scan_prefix("a/").unwrap()), expected);
        assert_eq!(tree.sled.get("a/0").unwrap().as_deref(), Some(&b"zero"[..]));
        assert!(lock(&db.inner.pending).shadows[tree.index].is_empty());
        assert_eq!(tree.iter().unwrap().len(), 5);
    }

    #[test]
    fn a_large_commit_is_read_whole_while_sled_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        let keys = (APPLY_INLINE_BYTES / 4) as u32;
        for i in 0..keys {
            tree.insert(i.to_be_bytes(), &i.to_le_bytes()[..]).unwrap();
        }
        db.flush().unwrap();
        assert_eq!(tree.iter().unwrap().len() as u32, keys);
        assert_eq!(
            tree.get(7u32.to_be_bytes()).unwrap().as_deref(),
            Some(&7u32.to_le_bytes()[..])
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lock(&db.inner.pending).shadows[tree.index].is_empty() {
            assert!(Instant::now() < deadline, "never applied");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(tree.sled.len() as u32, keys);
    }

    #[test]
    fn sled_gets_each_keys_last_write_of_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("gone", b"old".as_slice()).unwrap();
        db.flush().unwrap();
        for (key, value) in [("run", "created"), ("run", "running"), ("hold", "pending")] {
            tree.insert(key, value.as_bytes()).unwrap();
        }
        tree.remove("hold").unwrap();
        tree.insert("run", b"ended".as_slice()).unwrap();
        tree.remove("gone").unwrap();
        db.flush().unwrap();
        assert!(lock(&db.inner.pending).shadows[tree.index].is_empty());
        assert_eq!(
            tree.sled.get("run").unwrap().as_deref(),
            Some(&b"ended"[..])
        );
        assert_eq!(tree.sled.get("hold").unwrap(), None);
        assert_eq!(tree.sled.get("gone").unwrap(), None);
    }

    #[test]
    fn contains_key_sees_pending_and_committed_writes_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("kept", b"v".as_slice()).unwrap();
        tree.insert("dropped", b"v".as_slice()).unwrap();
        assert!(tree.contains_key("kept").unwrap());
        db.flush().unwrap();
        tree.remove("dropped").unwrap();
        assert!(tree.contains_key("kept").unwrap());
        assert!(!tree.contains_key("dropped").unwrap());
        assert!(!tree.contains_key("never").unwrap());
        db.flush().unwrap();
        assert!(!tree.contains_key("dropped").unwrap());
        assert!(tree.contains_key("kept").unwrap());
    }

    #[test]
    fn a_large_value_is_stored_compressed_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let record = br#"{"view":"front","colour":"navy","x":12.5},"#.repeat(100);
        {
            let db = Database::open(dir.path()).unwrap();
            let tree = db.open_tree("t").unwrap();
            tree.insert("record", &record).unwrap();
            assert_eq!(tree.get("record").unwrap().as_deref(), Some(&record[..]));
            db.flush().unwrap();
            assert!(tree.sled.get("record").unwrap().unwrap().len() < record.len() / 4);
            assert_eq!(tree.scan_prefix("rec").unwrap()[0].1.as_ref(), &record[..]);
        }
        let db = open_again(dir.path());
        let tree = db.open_tree("t").unwrap();
        assert_eq!(tree.get("record").unwrap().as_deref(), Some(&record[..]));
        let back: Vec<_> = tree.scan_prefix_back(b"", None).collect();
        assert_eq!(back[0].as_ref().unwrap().1.as_ref(), &record[..]);
    }

    #[test]
    fn compare_and_swap_sees_uncommitted_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("keys").unwrap();
        assert!(
            tree.compare_and_swap("k", None, Some(b"first".as_slice()))
                .unwrap()
                .is_ok()
        );
        let lost = tree
            .compare_and_swap("k", None, Some(b"second".as_slice()))
            .unwrap()
            .unwrap_err();
        assert_eq!(lost.as_deref(), Some(&b"first"[..]));
        db.flush().unwrap();
        assert!(
            tree.compare_and_swap("k", Some(b"first"), None::<&[u8]>)
                .unwrap()
                .is_ok()
        );
        assert_eq!(tree.get("k").unwrap(), None);
    }

    #[test]
    fn writes_outlive_the_database_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let value = vec![5u8; 64 * 1024];
        {
            let db = Database::open(dir.path()).unwrap();
            let tree = db.open_tree("big").unwrap();
            let other = db.open_tree("small").unwrap();
            // Past the checkpoint size, in commits of 1 MiB: the log starts over on the way.
            for i in 0..(wal::CHECKPOINT_BYTES / value.len() as u64 + 32) {
                let mut batch = Batch::default();
                batch.insert(&tree, i.to_be_bytes(), value.as_slice());
                batch.insert(&other, "last", &i.to_be_bytes()[..]);
                db.apply(batch).unwrap();
                if i % 16 == 15 {
                    db.flush().unwrap();
                }
            }
            assert!(lock(&db.inner.log).len() < wal::CHECKPOINT_BYTES / 2);
            // The last writes are not flushed: dropping the database commits them.
        }
        let db = open_again(dir.path());
        let tree = db.open_tree("big").unwrap();
        let count = wal::CHECKPOINT_BYTES / value.len() as u64 + 32;
        assert_eq!(tree.iter().unwrap().len() as u64, count);
        assert_eq!(
            db.open_tree("small")
                .unwrap()
                .get("last")
                .unwrap()
                .as_deref(),
            Some(&(count - 1).to_be_bytes()[..])
        );
    }

    #[test]
    fn writes_nobody_flushes_are_committed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("k", b"v".as_slice()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while tree.sled.get("k").unwrap().is_none() {
            assert!(Instant::now() < deadline, "never committed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_tree_name_the_log_cannot_hold_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        assert!(db.open_tree(&"t".repeat(wal::MAX_TREE_NAME)).is_ok());
        let error = db
            .open_tree(&"t".repeat(wal::MAX_TREE_NAME + 1))
            .err()
            .unwrap();
        assert!(error.to_string().contains("at most 255 bytes"), "{error}");
    }

    #[test]
    fn a_batch_with_another_databases_tree_is_refused() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (
            Database::open(one.path()).unwrap(),
            Database::open(two.path()).unwrap(),
        );
        let mut batch = Batch::default();
        batch.insert(&b.open_tree("t").unwrap(), "k", b"v".as_slice());
        assert!(a.apply(batch).is_err());
        assert_eq!(b.open_tree("t").unwrap().get("k").unwrap(), None);
    }
}
