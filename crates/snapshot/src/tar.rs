//! The minimal ustar framing of the archive: regular files only, names under 100 bytes,
//! sizes below 8 GiB (11 octal digits).
//!
//! A file is a 512-byte header (name, mode, size, checksum, type `0`, `ustar` magic)
//! followed by its bytes padded with zeros to a multiple of 512; two zero blocks end the
//! archive. The reader checks each header's checksum and refuses links, directories and
//! other entry types.

use std::io::{self, Read, Write};

use crate::SnapshotError;

/// Size of a tar block.
pub const BLOCK: usize = 512;
/// Largest file size the header can express.
pub const MAX_SIZE: u64 = 0o77777777777;

fn octal(field: &mut [u8], value: u64) {
    // `width - 1` octal digits followed by NUL.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// Writes the header of a regular file `name` of `size` bytes.
pub fn write_header(out: &mut impl Write, name: &str, size: u64) -> Result<(), SnapshotError> {
    if name.len() >= 100 || name.is_empty() {
        return Err(SnapshotError::Malformed(format!("tar name {name:?}")));
    }
    if size > MAX_SIZE {
        return Err(SnapshotError::TooLarge(format!("{name} is {size} bytes")));
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o600);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    out.write_all(&h)?;
    Ok(())
}

/// Zero bytes that follow a file of `size` bytes.
pub fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

/// Writes the padding after a file of `size` bytes.
pub fn write_padding(out: &mut impl Write, size: u64) -> Result<(), SnapshotError> {
    out.write_all(&[0u8; BLOCK][..padding(size)])?;
    Ok(())
}

/// Writes the two zero blocks that end an archive.
pub fn write_end(out: &mut impl Write) -> Result<(), SnapshotError> {
    out.write_all(&[0u8; BLOCK * 2])?;
    Ok(())
}

fn bad(msg: impl Into<String>) -> SnapshotError {
    SnapshotError::Malformed(format!("tar: {}", msg.into()))
}

fn parse_octal(field: &[u8]) -> Result<u64, SnapshotError> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&text).map_err(|_| bad("bad number"))?;
    u64::from_str_radix(s, 8).map_err(|_| bad(format!("bad number {s:?}")))
}

/// Reads the next header: `Some((name, size))`, or `None` at the end-of-archive zero block.
/// `read` maps errors of the underlying stream (for example a broken gzip layer).
pub fn read_header(
    r: &mut impl Read,
    read_err: &impl Fn(io::Error) -> SnapshotError,
) -> Result<Option<(String, u64)>, SnapshotError> {
    let mut h = [0u8; BLOCK];
    r.read_exact(&mut h).map_err(read_err)?;
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let stored = parse_octal(&h[148..156])?;
    let mut copy = h;
    copy[148..156].copy_from_slice(b"        ");
    let actual: u64 = copy.iter().map(|&b| u64::from(b)).sum();
    if stored != actual {
        return Err(bad("header checksum mismatch"));
    }
    if h[156] != b'0' && h[156] != 0 {
        return Err(bad(format!("unsupported entry type {:?}", h[156] as char)));
    }
    let name_len = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
    let name = std::str::from_utf8(&h[..name_len])
        .map_err(|_| bad("name is not UTF-8"))?
        .to_owned();
    let size = parse_octal(&h[124..136])?;
    Ok(Some((name, size)))
}
