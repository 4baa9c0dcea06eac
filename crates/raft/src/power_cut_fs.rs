//! A simulated disk for tests: an in-memory [`LogDir`] that keeps what was written apart from
//! what was made durable, and at a simulated power cut ([`PowerCutFs::power_cut`]) keeps only
//! the durable state plus, per file, a random torn piece of what was written after the last
//! `sync_data` (a prefix of it, possibly with its end zeroed, as a disk that wrote some blocks
//! and allocated others leaves it).
//!
//! Directory changes (create, remove, rename) are durable after `sync_dir`; at a cut, a random
//! prefix of the ones made since is kept (journalled file systems apply them in order).
//!
//! [`PowerCutFs::fail_after`] makes the disk die after a number of mutating operations: that
//! operation and every later one fail, as an I/O error in the middle of a log operation would.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::log_fs::{LogDir, LogFile};

#[derive(Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
}

enum DirOp {
    Link(String, u64),
    Unlink(String),
    Rename(String, String),
}

#[derive(Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    dir: BTreeMap<String, u64>,
    durable_dir: BTreeMap<String, u64>,
    pending: Vec<DirOp>,
    /// Mutating operations left before the disk dies (`None`: never).
    budget: Option<u64>,
    dead: bool,
    /// Mutating operations done so far.
    ops: u64,
}

fn dead() -> io::Error {
    io::Error::other("simulated power cut")
}

impl State {
    fn tick(&mut self) -> io::Result<()> {
        if self.dead {
            return Err(dead());
        }
        if let Some(left) = self.budget.as_mut() {
            if *left == 0 {
                self.dead = true;
                return Err(dead());
            }
            *left -= 1;
        }
        self.ops += 1;
        Ok(())
    }

    fn alive(&self) -> io::Result<()> {
        if self.dead { Err(dead()) } else { Ok(()) }
    }

    fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
        self.inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "stale file handle"))
    }
}

fn apply(dir: &mut BTreeMap<String, u64>, op: &DirOp) {
    match op {
        DirOp::Link(name, ino) => {
            dir.insert(name.clone(), *ino);
        }
        DirOp::Unlink(name) => {
            dir.remove(name);
        }
        DirOp::Rename(from, to) => {
            if let Some(ino) = dir.remove(from) {
                dir.insert(to.clone(), ino);
            }
        }
    }
}

/// SplitMix64: the few random choices of a power cut, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next() % n,
            None => self.next(),
        }
    }
}

/// The simulated disk; clones share it.
#[derive(Clone, Default)]
pub(crate) struct PowerCutFs {
    state: Arc<Mutex<State>>,
}

impl PowerCutFs {
    /// An empty disk.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The disk dies at the `ops`-th mutating operation from now (`None`: never).
    pub(crate) fn fail_after(&self, ops: Option<u64>) {
        self.lock().budget = ops;
    }

    /// Mutating operations done so far.
    pub(crate) fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Cuts the power: everything not made durable is dropped or torn (choices drawn from
    /// `seed`); the disk then works again with no failure planned. Open files of before the
    /// cut must not be used any more.
    pub(crate) fn power_cut(&self, seed: u64) {
        let mut rng = Rng(seed);
        let mut s = self.lock();
        let pending = std::mem::take(&mut s.pending);
        let keep = rng.upto(pending.len() as u64) as usize;
        let mut dir = s.durable_dir.clone();
        for op in &pending[..keep] {
            apply(&mut dir, op);
        }
        for inode in s.inodes.values_mut() {
            let d = &inode.durable;
            let c = &inode.current;
            let survived = if c.len() >= d.len() && c[..d.len()] == d[..] {
                // Appended since the last sync: a torn prefix of the new bytes survives,
                // its end possibly zeroes.
                let extra = (c.len() - d.len()) as u64;
                let kept = rng.upto(extra) as usize;
                let real = rng.upto(kept as u64) as usize;
                let mut out = c[..d.len() + kept].to_vec();
                for b in &mut out[d.len() + real..] {
                    *b = 0;
                }
                out
            } else if rng.upto(1) == 0 {
                d.clone()
            } else {
                c.clone()
            };
            inode.current = survived.clone();
            inode.durable = survived;
        }
        let live: std::collections::HashSet<u64> = dir.values().copied().collect();
        s.inodes.retain(|ino, _| live.contains(ino));
        s.dir = dir.clone();
        s.durable_dir = dir;
        s.budget = None;
        s.dead = false;
    }

    /// A file's current contents (tests that damage files).
    pub(crate) fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        let s = self.lock();
        let ino = s.dir.get(name)?;
        s.inodes.get(ino).map(|i| i.current.clone())
    }

    /// Replaces a file's contents, durably (tests that damage files).
    pub(crate) fn write_file(&self, name: &str, data: Vec<u8>) {
        let mut s = self.lock();
        if let Some(ino) = s.dir.get(name).copied()
            && let Some(inode) = s.inodes.get_mut(&ino)
        {
            inode.current = data.clone();
            inode.durable = data;
        }
    }
}

impl LogDir for PowerCutFs {
    fn list(&self) -> io::Result<Vec<String>> {
        let s = self.lock();
        s.alive()?;
        Ok(s.dir.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let s = self.lock();
        s.alive()?;
        let ino = *s
            .dir
            .get(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))?;
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let mut s = self.lock();
        s.tick()?;
        let ino = s.next_inode;
        s.next_inode += 1;
        s.inodes.insert(ino, Inode::default());
        let op = DirOp::Link(name.to_owned(), ino);
        apply(&mut s.dir, &op);
        s.pending.push(op);
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
        }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        if !s.dir.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::NotFound, name.to_owned()));
        }
        let op = DirOp::Unlink(name.to_owned());
        apply(&mut s.dir, &op);
        s.pending.push(op);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        if !s.dir.contains_key(from) {
            return Err(io::Error::new(io::ErrorKind::NotFound, from.to_owned()));
        }
        let op = DirOp::Rename(from.to_owned(), to.to_owned());
        apply(&mut s.dir, &op);
        s.pending.push(op);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        s.durable_dir = s.dir.clone();
        s.pending.clear();
        Ok(())
    }
}

struct MemFile {
    state: Arc<Mutex<State>>,
    ino: u64,
}

impl MemFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LogFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        let mut s = self.lock();
        s.alive()?;
        Ok(s.inode(self.ino)?.current.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut s = self.lock();
        s.alive()?;
        let data = &s.inode(self.ino)?.current;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start.saturating_add(buf.len());
        if end > data.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
        }
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        let file = &mut s.inode(self.ino)?.current;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        if file.len() < start {
            file.resize(start, 0);
        }
        let end = start + data.len();
        if file.len() < end {
            file.resize(end, 0);
        }
        file[start..end].copy_from_slice(data);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        s.inode(self.ino)?.current.resize(len, 0);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut s = self.lock();
        s.tick()?;
        let inode = s.inode(self.ino)?;
        inode.durable = inode.current.clone();
        Ok(())
    }
}
