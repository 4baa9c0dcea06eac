//! Writing and reading the whole archive (gzip over the [`tar`](crate::tar) framing).

use std::io::{self, BufRead, BufReader, Read, Write};

use flate2::Compression;
use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use crate::state::StateReader;
use crate::{SnapshotError, SnapshotMeta, tar};

/// The metadata file.
pub const META_FILE: &str = "meta.json";
/// The key/value data.
pub const STATE_FILE: &str = "state.bin";
/// The checksums of the two files above.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The checksums sealed by the cluster's barrier.
pub const SEALED_SUMS_FILE: &str = "SHA256SUMS.sealed";

/// The operating-system byte of the gzip header (255: unknown).
const GZIP_OS: u8 = 255;
/// The exact gzip header the writer produces; the reader accepts no other, so that no byte
/// of the file (the gzip header's time and flags are not covered by its CRC) can change
/// unnoticed.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, GZIP_OS];

/// Largest accepted `meta.json`.
const MAX_META: u64 = 1024 * 1024;
/// Largest accepted `SHA256SUMS` or `SHA256SUMS.sealed`.
const MAX_SUMS: u64 = 64 * 1024;
/// Most bytes read after the end of the tar stream (zero padding some writers add).
const MAX_TRAILER: u64 = 1024 * 1024;

/// The `SHA256SUMS` text for the two hashes (lowercase hex, two spaces, file name).
pub fn sums_text(meta_sha256: &[u8], state_sha256: &[u8]) -> Vec<u8> {
    format!(
        "{}  {META_FILE}\n{}  {STATE_FILE}\n",
        hex::encode(meta_sha256),
        hex::encode(state_sha256)
    )
    .into_bytes()
}

/// Hashes and counts what passes through to `inner`.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Sha256,
    written: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_file(out: &mut impl Write, name: &str, bytes: &[u8]) -> Result<(), SnapshotError> {
    tar::write_header(out, name, bytes.len() as u64)?;
    out.write_all(bytes)?;
    tar::write_padding(out, bytes.len() as u64)
}

/// Streams an archive to `out`: `meta.json` from `meta`, then `state.bin` as written by
/// `write_state` (exactly `meta.size` bytes), then `SHA256SUMS` and `SHA256SUMS.sealed`
/// (`seal_sums` seals the checksum text). Returns `out` once the gzip stream is complete.
pub fn write_archive<W: Write>(
    out: W,
    meta: &SnapshotMeta,
    write_state: impl FnOnce(&mut dyn Write) -> Result<(), SnapshotError>,
    seal_sums: impl FnOnce(&[u8]) -> Result<Vec<u8>, SnapshotError>,
) -> Result<W, SnapshotError> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS)
        .write(out, Compression::fast());
    let meta_json = serde_json::to_vec_pretty(meta)
        .map_err(|e| SnapshotError::Malformed(format!("meta.json: {e}")))?;
    write_file(&mut gz, META_FILE, &meta_json)?;
    tar::write_header(&mut gz, STATE_FILE, meta.size)?;
    let (state_hash, written) = {
        let mut w = HashingWriter {
            inner: &mut gz,
            hasher: Sha256::new(),
            written: 0,
        };
        write_state(&mut w)?;
        (w.hasher.finalize(), w.written)
    };
    if written != meta.size {
        return Err(SnapshotError::Malformed(format!(
            "state.bin was announced as {} bytes but {written} were written",
            meta.size
        )));
    }
    tar::write_padding(&mut gz, written)?;
    let sums = sums_text(&Sha256::digest(&meta_json), &state_hash);
    write_file(&mut gz, SUMS_FILE, &sums)?;
    let sealed = seal_sums(&sums)?;
    if sealed.is_empty() {
        return Err(SnapshotError::Seal("sealed checksums are empty".into()));
    }
    write_file(&mut gz, SEALED_SUMS_FILE, &sealed)?;
    tar::write_end(&mut gz)?;
    Ok(gz.finish()?)
}

/// What a verified archive holds (apart from the key/value data, which went to the sink).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveContents {
    /// The parsed `meta.json`.
    pub meta: SnapshotMeta,
    /// SHA-256 of `state.bin`.
    pub state_sha256: [u8; 32],
    /// Length of `state.bin`.
    pub state_len: u64,
    /// Number of key/value records in `state.bin`.
    pub records: u64,
    /// The `SHA256SUMS` text (verified against both files).
    pub sums: Vec<u8>,
    /// `SHA256SUMS.sealed`, for the caller to open and compare with `sums`.
    pub sealed_sums: Vec<u8>,
}

fn decompress_err(e: io::Error) -> SnapshotError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => SnapshotError::Decompress("unexpected EOF".into()),
        _ => SnapshotError::Decompress(e.to_string()),
    }
}

fn read_small(
    r: &mut impl Read,
    name: &str,
    size: u64,
    max: u64,
) -> Result<Vec<u8>, SnapshotError> {
    if size > max {
        return Err(SnapshotError::TooLarge(format!("{name} of {size} bytes")));
    }
    let mut buf = vec![0u8; size as usize];
    r.read_exact(&mut buf).map_err(decompress_err)?;
    Ok(buf)
}

/// Reads through to `inner`, copying to a sink and hashing.
struct TeeReader<'a, R: Read> {
    inner: R,
    sink: &'a mut dyn Write,
    hasher: Sha256,
    read: u64,
    sink_failed: bool,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Err(e) = self.sink.write_all(&buf[..n]) {
            self.sink_failed = true;
            return Err(e);
        }
        Ok(n)
    }
}

/// Parses `SHA256SUMS` into (file, hex hash) pairs.
fn parse_sums(text: &[u8]) -> Result<Vec<(String, String)>, SnapshotError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| SnapshotError::Malformed("SHA256SUMS is not text".into()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (hash, name) = line
                .split_once(' ')
                .ok_or_else(|| SnapshotError::Malformed(format!("SHA256SUMS line {line:?}")))?;
            let name = name.trim_start_matches([' ', '*']);
            Ok((name.to_owned(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// Reads and verifies an archive from `input`: the gzip and tar framing, the structure of
/// `state.bin` (copied as it is read to `state_sink`), `meta.json`, and both files against
/// `SHA256SUMS`. `on_record` sees each key and its value's length. The sealed checksums are
/// returned unopened.
pub fn read_archive<R: Read>(
    input: R,
    state_sink: &mut dyn Write,
    mut on_record: impl FnMut(&str, u64),
) -> Result<ArchiveContents, SnapshotError> {
    let mut input = BufReader::new(input);
    let mut header = [0u8; GZIP_HEADER.len()];
    input.read_exact(&mut header).map_err(decompress_err)?;
    if header != GZIP_HEADER {
        return Err(SnapshotError::Decompress("invalid gzip header".into()));
    }
    let mut gz = GzDecoder::new(io::Cursor::new(header).chain(input));
    let mut meta_json: Option<Vec<u8>> = None;
    let mut state: Option<([u8; 32], u64, u64)> = None;
    let mut sums: Option<Vec<u8>> = None;
    let mut sealed: Option<Vec<u8>> = None;
    while let Some((name, size)) = tar::read_header(&mut gz, &decompress_err)? {
        let dup = || SnapshotError::Malformed(format!("{name} appears twice"));
        match name.as_str() {
            META_FILE => {
                if meta_json.is_some() {
                    return Err(dup());
                }
                meta_json = Some(read_small(&mut gz, &name, size, MAX_META)?);
            }
            SUMS_FILE => {
                if sums.is_some() {
                    return Err(dup());
                }
                sums = Some(read_small(&mut gz, &name, size, MAX_SUMS)?);
            }
            SEALED_SUMS_FILE => {
                if sealed.is_some() {
                    return Err(dup());
                }
                sealed = Some(read_small(&mut gz, &name, size, MAX_SUMS)?);
            }
            STATE_FILE => {
                if state.is_some() {
                    return Err(dup());
                }
                state = Some(read_state(&mut gz, size, state_sink, &mut on_record)?);
            }
            other => {
                return Err(SnapshotError::Malformed(format!(
                    "unexpected file {other:?} in the archive"
                )));
            }
        }
        let mut pad = [0u8; tar::BLOCK];
        gz.read_exact(&mut pad[..tar::padding(size)])
            .map_err(decompress_err)?;
    }
    // The rest of the stream (a second zero block, maybe more padding) is read to its end so
    // that the gzip trailer (CRC and length) is checked.
    let mut rest = Vec::new();
    (&mut gz)
        .take(MAX_TRAILER + 1)
        .read_to_end(&mut rest)
        .map_err(decompress_err)?;
    if rest.len() as u64 > MAX_TRAILER || rest.iter().any(|&b| b != 0) {
        return Err(SnapshotError::Malformed(
            "data after the end of the archive".into(),
        ));
    }
    // Nothing may follow the gzip stream either.
    let (_, mut after) = gz.into_inner().into_inner();
    if !after.fill_buf().map_err(decompress_err)?.is_empty() {
        return Err(SnapshotError::Malformed(
            "data after the gzip stream".into(),
        ));
    }
    let missing = |f: &str| SnapshotError::Malformed(format!("{f} missing from the archive"));
    let meta_json = meta_json.ok_or_else(|| missing(META_FILE))?;
    let (state_sha256, state_len, records) = state.ok_or_else(|| missing(STATE_FILE))?;
    let sums = sums.ok_or_else(|| missing(SUMS_FILE))?;
    let sealed_sums = sealed
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(SEALED_SUMS_FILE))?;

    let listed = parse_sums(&sums)?;
    let expect = [
        (META_FILE, hex::encode(Sha256::digest(&meta_json))),
        (STATE_FILE, hex::encode(state_sha256)),
    ];
    if listed.len() != expect.len() {
        return Err(SnapshotError::Checksum(format!(
            "SHA256SUMS lists {} files, expected {}",
            listed.len(),
            expect.len()
        )));
    }
    for (file, hash) in expect {
        match listed.iter().find(|(n, _)| n == file) {
            Some((_, h)) if *h == hash => {}
            Some(_) => return Err(SnapshotError::Checksum(format!("{file} does not match"))),
            None => return Err(SnapshotError::Checksum(format!("{file} is not listed"))),
        }
    }
    let meta: SnapshotMeta = serde_json::from_slice(&meta_json)
        .map_err(|e| SnapshotError::Malformed(format!("meta.json: {e}")))?;
    if meta.size != state_len {
        return Err(SnapshotError::Malformed(format!(
            "meta.json gives Size {} but state.bin has {state_len} bytes",
            meta.size
        )));
    }
    Ok(ArchiveContents {
        meta,
        state_sha256,
        state_len,
        records,
        sums,
        sealed_sums,
    })
}

fn read_state<R: Read>(
    gz: &mut R,
    size: u64,
    sink: &mut dyn Write,
    on_record: &mut impl FnMut(&str, u64),
) -> Result<([u8; 32], u64, u64), SnapshotError> {
    let mut tee = TeeReader {
        inner: gz.take(size),
        sink,
        hasher: Sha256::new(),
        read: 0,
        sink_failed: false,
    };
    let outcome = (|| {
        let mut reader = StateReader::new(&mut tee)?;
        while let Some(rec) = reader.next_record(false)? {
            on_record(&rec.key, rec.value_len);
        }
        let n = reader.count();
        reader.expect_eof()?;
        Ok::<u64, SnapshotError>(n)
    })();
    let records = match outcome {
        Ok(n) => n,
        Err(SnapshotError::Io(e)) if tee.sink_failed => return Err(SnapshotError::Io(e)),
        Err(SnapshotError::Io(e)) => return Err(decompress_err(e)),
        Err(e) => return Err(e),
    };
    if tee.read != size {
        return Err(SnapshotError::Decompress("unexpected EOF".into()));
    }
    Ok((tee.hasher.finalize().into(), size, records))
}
