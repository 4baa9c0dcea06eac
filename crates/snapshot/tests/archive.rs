//! The archive writer and reader over plain byte buffers: round trip, the checks on every
//! file, and (property tests) that any truncation or flipped byte is refused.
//!
//! Every property run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p
//! tresor-snapshot --test archive` replays it.

#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;
use sha2::Digest as _;
use tresor_snapshot::state::{self, StateWriter};
use tresor_snapshot::{SnapshotError, SnapshotMeta, read_archive, write_archive};

/// A toy "seal": XOR with a key byte and a tag, so a different key is detected on open.
fn seal_with(key: u8) -> impl Fn(&[u8]) -> Result<Vec<u8>, SnapshotError> {
    move |sums: &[u8]| {
        let mut out = vec![key];
        out.extend(sums.iter().map(|b| b ^ key));
        Ok(out)
    }
}

fn open_with(key: u8, sealed: &[u8]) -> Option<Vec<u8>> {
    (sealed.first() == Some(&key)).then(|| sealed[1..].iter().map(|b| b ^ key).collect())
}

fn state_len(pairs: &[(String, Vec<u8>)]) -> u64 {
    state::HEADER_LEN
        + state::TRAILER_LEN
        + pairs
            .iter()
            .map(|(k, v)| state::record_len(k.len(), v.len()))
            .sum::<u64>()
}

fn build(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let meta = SnapshotMeta {
        version: 1,
        id: "3-42-1".into(),
        index: 42,
        term: 3,
        size: state_len(pairs),
        ..Default::default()
    };
    write_archive(
        Vec::new(),
        &meta,
        |out| {
            let mut w = StateWriter::new(out)?;
            for (k, v) in pairs {
                w.record(k, v)?;
            }
            w.finish()?;
            Ok(())
        },
        seal_with(7),
    )
    .unwrap()
}

fn sample() -> Vec<(String, Vec<u8>)> {
    vec![
        ("core/keyring".into(), vec![1, 2, 3]),
        ("logical/abc/data/x".into(), vec![0; 2000]),
        ("sys/token/id/t".into(), b"v".to_vec()),
    ]
}

#[test]
fn round_trip_keeps_every_pair_and_the_metadata() {
    let pairs = sample();
    let bytes = build(&pairs);
    let mut spooled = Vec::new();
    let mut seen = Vec::new();
    let got = read_archive(&bytes[..], &mut spooled, |k, n| {
        seen.push((k.to_owned(), n))
    })
    .unwrap();
    assert_eq!(got.meta.index, 42);
    assert_eq!(got.meta.term, 3);
    assert_eq!(got.records, 3);
    assert_eq!(got.state_len, spooled.len() as u64);
    assert_eq!(
        got.state_sha256,
        <[u8; 32]>::from(sha2::Sha256::digest(&spooled))
    );
    assert_eq!(open_with(7, &got.sealed_sums), Some(got.sums.clone()));
    assert_eq!(
        open_with(8, &got.sealed_sums),
        None,
        "another key does not open it"
    );
    let mut back = Vec::new();
    state::read_all(&spooled[..], |k, v| {
        back.push((k, v));
        Ok(())
    })
    .unwrap();
    assert_eq!(back, pairs);
    assert_eq!(seen[1], ("logical/abc/data/x".to_owned(), 2000));
}

#[test]
fn the_archive_is_a_gzipped_tar_with_vaults_file_names() {
    let bytes = build(&sample());
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut tar).unwrap();
    let mut names = Vec::new();
    let mut at = 0;
    let mut r = &tar[..];
    while let Some((name, size)) =
        tresor_snapshot::tar::read_header(&mut r, &|e| SnapshotError::Io(e)).unwrap()
    {
        names.push(name);
        let skip = size as usize + tresor_snapshot::tar::padding(size);
        r = &r[skip..];
        at += 1;
    }
    assert_eq!(at, 4);
    assert_eq!(
        names,
        ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
    );
    let text = String::from_utf8_lossy(&tar);
    for field in [
        "\"ID\"",
        "\"Index\"",
        "\"Term\"",
        "\"Version\"",
        "\"Size\"",
        "\"Configuration\"",
        "\"ConfigurationIndex\"",
        "\"Peers\"",
    ] {
        assert!(text.contains(field), "meta.json has {field}");
    }
    assert!(text.contains("  state.bin\n"), "sha256sum format");
}

#[test]
fn garbage_is_a_decompression_error() {
    let err = read_archive(
        &b"definitely not a snapshot"[..],
        &mut Vec::new(),
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, SnapshotError::Decompress(_)), "{err}");
    let err = read_archive(&[][..], &mut Vec::new(), |_, _| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to decompress snapshot: unexpected EOF"
    );
}

#[test]
fn a_wrong_announced_size_fails_the_writer() {
    let meta = SnapshotMeta {
        size: 5,
        ..Default::default()
    };
    let res = write_archive(
        Vec::new(),
        &meta,
        |out| Ok(std::io::Write::write_all(out, b"123")?),
        seal_with(1),
    );
    assert!(matches!(res, Err(SnapshotError::Malformed(_))));
}

fn pairs_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::btree_map(
        "[a-z]{1,3}(/[a-z0-9]{1,4}){0,3}",
        prop::collection::vec(any::<u8>(), 0..300),
        0..12,
    )
    .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(tresor_testkit::props::seeded_config(48))]

    #[test]
    fn any_archive_round_trips(pairs in pairs_strategy()) {
        let bytes = build(&pairs);
        let mut spooled = Vec::new();
        let got = read_archive(&bytes[..], &mut spooled, |_, _| {}).unwrap();
        prop_assert_eq!(got.records, pairs.len() as u64);
        let mut back = Vec::new();
        state::read_all(&spooled[..], |k, v| { back.push((k, v)); Ok(()) }).unwrap();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn any_truncation_is_refused(pairs in pairs_strategy(), cut in any::<prop::sample::Index>()) {
        let bytes = build(&pairs);
        let len = cut.index(bytes.len());
        prop_assert!(read_archive(&bytes[..len], &mut Vec::new(), |_, _| {}).is_err(), "cut at {}", len);
    }

    #[test]
    fn any_flipped_byte_is_refused(pairs in pairs_strategy(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let good = build(&pairs);
        let mut original_state = Vec::new();
        let original = read_archive(&good[..], &mut original_state, |_, _| {}).unwrap();
        let mut bytes = good.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let mut state = Vec::new();
        match read_archive(&bytes[..], &mut state, |_, _| {}) {
            Err(_) => {}
            // Some bits carry no information (the padding bits of deflate's last byte): a
            // flip there decodes to the very same archive. Anything else must be refused, or
            // caught when the sealed sums are opened.
            Ok(got) => {
                let same = got == original && state == original_state;
                let opens = open_with(7, &got.sealed_sums) == Some(got.sums.clone());
                prop_assert!(same || !opens, "flip of bit {} at byte {} went unnoticed", bit, i);
            }
        }
    }
}
