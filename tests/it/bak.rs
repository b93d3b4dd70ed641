//! Reading the headers of SQL Server backups: the files `release_testkit::bak` makes, the
//! ways a file can fail to be a backup, striped sets, and the example backup checked in under
//! `examples/`.
//!
//! The example is written by the generator. After changing it, rewrite the file with
//! `RELEASE_WRITE_EXAMPLE_BAK=1 cargo test -p release --test it bak::example` and check it in.

use std::path::{Path, PathBuf};

use release::inventory::bak::{
    BackupKind, BakError, HEADER_WINDOW, HeaderProblem, SoftwareVersion, parse_header, read_header,
    read_striped, stripe_hints,
};
use release_testkit::bak::{self, Header, Kind, Strings};
use tempfile::TempDir;

const EXAMPLE: &str = "examples/rdmp-extraction/backups/Asthma_12_Extract.bak";

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn problem(result: Result<release::inventory::bak::BackupHeader, BakError>) -> HeaderProblem {
    match result {
        Err(BakError::Invalid { problem, .. }) => problem,
        other => panic!("expected a header problem, got {other:?}"),
    }
}

fn date(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8) -> jiff::civil::DateTime {
    jiff::civil::date(y, m, d).at(h, min, s, 0)
}

#[test]
fn full_backup() {
    let dir = TempDir::new().unwrap();
    let header = Header { time_zone: 4, ..Header::full("Asthma_12_Extract") };
    let path = write(&dir, "Asthma_12_Extract.bak", &header.build());

    let read = read_header(&path).unwrap();
    assert!(!read.compressed);
    assert_eq!(read.media_name.as_deref(), Some("Asthma_12_Extract"));
    assert_eq!(read.media_description, None);
    assert_eq!(read.software_name.as_deref(), Some("Microsoft SQL Server"));
    assert_eq!(read.user_name.as_deref(), Some("TRE\\data.manager"));
    assert_eq!(read.backup_kind, BackupKind::Full);
    assert_eq!(read.set_attributes, Some(Kind::Full.attributes()));
    assert_eq!(read.written_at, Some(date(2026, 11, 30, 14, 5, 9)));
    assert_eq!(read.media_date, Some(date(2026, 11, 30, 14, 5, 9)));
    assert_eq!(read.software_version, Some(SoftwareVersion { major: 16, minor: 0 }));
    assert_eq!(read.software_version.unwrap().to_string(), "16.0");
    assert_eq!(read.block_size, Some(1024));
    assert_eq!(read.media_family_id, Some(0x5EED_0001));
    assert_eq!(read.media_sequence, Some(1));
    assert_eq!(read.mtf_major_version, Some(1));
    assert_eq!(read.data_set_number, Some(1));
    assert_eq!(read.data_set_name, None);
    assert_eq!(read.time_zone, Some(4));
}

#[test]
fn differential_and_copy_only_backups() {
    let dir = TempDir::new().unwrap();
    for (kind, expected) in [
        (Kind::Differential, BackupKind::Differential),
        (Kind::CopyOnly, BackupKind::CopyOnly),
        (Kind::Attributes(1 << 4), BackupKind::Unknown),
    ] {
        let header = Header { kind, ..Header::full("Diabetes_15") };
        let path = write(&dir, "d.bak", &header.build());
        let read = read_header(&path).unwrap();
        assert_eq!(read.backup_kind, expected, "{kind:?}");
        assert_eq!(read.set_attributes, Some(kind.attributes()));
        assert_eq!(read.media_name.as_deref(), Some("Diabetes_15"));
    }
}

#[test]
fn single_byte_strings_and_a_later_set_block() {
    let header = Header {
        strings: Strings::Ansi,
        data_set_name: "Asthma_12_Extract-Full".to_owned(),
        set_offset: 8192,
        size: 12_000,
        ..Header::full("Asthma_12_Extract")
    };
    let read = parse_header(&header.build()).unwrap();
    assert_eq!(read.media_name.as_deref(), Some("Asthma_12_Extract"));
    assert_eq!(read.data_set_name.as_deref(), Some("Asthma_12_Extract-Full"));
    assert_eq!(read.user_name.as_deref(), Some("TRE\\data.manager"));
    assert_eq!(read.backup_kind, BackupKind::Full);
}

#[test]
fn compressed_backup() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "c.bak", &bak::compressed(20_000));
    let read = read_header(&path).unwrap();
    assert!(read.compressed);
    assert_eq!(read.backup_kind, BackupKind::Unknown);
    assert_eq!(read.media_name, None);
    assert_eq!(read.written_at, None);
}

#[test]
fn striped_set_of_three() {
    let dir = TempDir::new().unwrap();
    let paths: Vec<PathBuf> = (1..=3)
        .map(|n| {
            let header = Header { media_family_id: n, ..Header::full("Asthma_12_Extract") };
            write(&dir, &format!("Asthma_12_Extract_{n}.bak"), &header.build())
        })
        .collect();
    let headers = read_striped(&paths).unwrap();
    assert_eq!(headers.len(), 3);
    assert!(headers.iter().all(|h| h.backup_kind == BackupKind::Full));
    assert_eq!(headers[2].media_family_id, Some(3));
    assert_eq!(stripe_hints(&headers), []);
}

#[test]
fn stripes_that_differ_get_hints() {
    let first = parse_header(&Header::full("Asthma_12_Extract").build()).unwrap();
    let later =
        Header { written_at: date(2026, 12, 1, 9, 0, 0), ..Header::full("Asthma_12_Extract") };
    let other = Header { kind: Kind::Differential, ..later.clone() };
    let headers =
        [first, parse_header(&later.build()).unwrap(), parse_header(&other.build()).unwrap()];
    let hints = stripe_hints(&headers);
    let shown: Vec<String> = hints.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "stripe 2 has write date 2026-12-01T09:00:00, but stripe 1 has 2026-11-30T14:05:09; \
             the files may not be one backup",
            "stripe 3 has kind differential, but stripe 1 has full; the files may not be one \
             backup",
            "stripe 3 has write date 2026-12-01T09:00:00, but stripe 1 has 2026-11-30T14:05:09; \
             the files may not be one backup",
        ]
    );
}

#[test]
fn eleven_files_are_refused() {
    let dir = TempDir::new().unwrap();
    let file = Header::full("Asthma_12_Extract").build();
    let paths: Vec<PathBuf> =
        (1..=11).map(|n| write(&dir, &format!("s{n:02}.bak"), &file)).collect();
    assert_eq!(read_striped(&paths[..10]).unwrap().len(), 10);

    let error = read_striped(&paths).unwrap_err();
    assert!(matches!(error, BakError::StripeCount { count: 11, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("a striped backup has 1 to 10 files, but 11 were given"));
    assert!(message.contains("s01.bak"), "{message}");
    assert!(error.hint().is_some());

    let none: [&Path; 0] = [];
    assert!(matches!(read_striped(&none), Err(BakError::StripeCount { count: 0, first: None })));
}

#[test]
fn a_stripe_that_is_not_a_backup_is_named() {
    let dir = TempDir::new().unwrap();
    let good = write(&dir, "a_1.bak", &Header::full("a").build());
    let bad = write(&dir, "a_2.bak", b"id,name\n1,x\n");
    let error = read_striped(&[good, bad]).unwrap_err();
    assert!(error.to_string().contains("a_2.bak` is not a SQL Server backup"), "{error}");
}

#[test]
fn truncated_files() {
    let dir = TempDir::new().unwrap();
    let file = Header::full("Asthma_12_Extract").build();
    for (len, place) in [
        (4, "inside the common header of its MTF `TAPE` block"),
        (40, "inside the common header of its MTF `TAPE` block"),
        (60, "inside the fixed fields of its MTF `TAPE` block"),
        (600, "before its MTF `SSET` block"),
        (1030, "inside the common header of its MTF `SSET` block"),
        (1080, "inside the fixed fields of its MTF `SSET` block"),
    ] {
        let path = write(&dir, "t.bak", &bak::truncated(&file, len));
        let found = problem(read_header(&path));
        assert_eq!(found, HeaderProblem::Truncated { len, place }, "cut at {len}");
    }

    // Cut inside the TAPE block's strings: the media name runs past the end of the file.
    let path = write(&dir, "t.bak", &bak::truncated(&file, 100));
    let error = read_header(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` has a damaged MTF `TAPE` block at byte 0: its media name is said to be at \
             bytes 94..128 of the block, which run past the end of the file",
            path.display()
        )
    );
    assert!(error.hint().is_some());

    let path = write(&dir, "t.bak", &bak::truncated(&file, 600));
    assert_eq!(
        read_header(&path).unwrap_err().to_string(),
        format!(
            "`{}` is truncated: it ends after 600 bytes, before its MTF `SSET` block",
            path.display()
        )
    );
}

#[test]
fn bad_checksums() {
    let dir = TempDir::new().unwrap();
    let file = Header::full("Asthma_12_Extract").build();

    let path = write(&dir, "b.bak", &bak::with_bad_checksum(&file, 0));
    let error = read_header(&path).unwrap_err();
    assert!(matches!(
        &error,
        BakError::Invalid {
            problem: HeaderProblem::BadChecksum { block: "TAPE", offset: 0, .. },
            ..
        }
    ));
    assert!(error.to_string().contains("has a damaged MTF `TAPE` block at byte 0"), "{error}");

    let path = write(&dir, "b.bak", &bak::with_bad_checksum(&file, 1024));
    assert!(matches!(
        problem(read_header(&path)),
        HeaderProblem::BadChecksum { block: "SSET", offset: 1024, .. }
    ));

    // A header word changed but the checksum left alone.
    let mut changed = file.clone();
    changed[12] ^= 0x01;
    assert!(matches!(parse_header(&changed), Err(HeaderProblem::BadChecksum { .. })));
}

#[test]
fn garbage_is_not_a_backup() {
    let dir = TempDir::new().unwrap();
    for seed in 1..20 {
        let path = write(&dir, "g.bak", &bak::garbage(5000, seed));
        assert_eq!(problem(read_header(&path)), HeaderProblem::NotABackup);
    }
    // Garbage behind a `TAPE` tag fails the checksum.
    let mut tagged = bak::garbage(5000, 7);
    tagged[..4].copy_from_slice(b"TAPE");
    assert!(matches!(parse_header(&tagged), Err(HeaderProblem::BadChecksum { .. })));
}

#[test]
fn a_csv_file_renamed_to_bak() {
    let dir = TempDir::new().unwrap();
    let csv = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/rdmp-extraction/extraction/Asthma_12/Demography/Demography.csv"),
    )
    .unwrap();
    let path = write(&dir, "Demography.bak", &csv);
    let error = read_header(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a SQL Server backup: it does not start with an MTF `TAPE` block or the \
             `MSSQLBAK` signature",
            path.display()
        )
    );
    assert!(error.hint().unwrap().contains("BACKUP DATABASE"));
}

#[test]
fn an_empty_file() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "empty.bak", b"");
    let error = read_header(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("`{}` is empty, so it is not a SQL Server backup", path.display())
    );
}

#[test]
fn a_missing_file() {
    let dir = TempDir::new().unwrap();
    let error = read_header(&dir.path().join("absent.bak")).unwrap_err();
    assert!(matches!(error, BakError::Read { .. }));
    assert!(error.to_string().starts_with("cannot read `"), "{error}");
}

#[test]
fn strings_that_overlap_the_fixed_fields() {
    let mut file = Header::full("Asthma_12_Extract").build();
    // Point the media name (size, offset at bytes 68..72) into the TAPE block's fixed part.
    file[70..72].copy_from_slice(&60u16.to_le_bytes());
    bak::fix_checksum(&mut file, 0);
    assert_eq!(
        parse_header(&file),
        Err(HeaderProblem::StringOutsideBlock {
            block: "TAPE",
            offset: 0,
            field: "media name",
            start: 60,
            end: 94,
            reason: "overlap the block's fixed fields",
        })
    );
}

#[test]
fn a_set_block_beyond_the_window_is_unknown_not_an_error() {
    let header =
        Header { set_offset: 70 * 1024, size: 80 * 1024, ..Header::full("Asthma_12_Extract") };
    let file = header.build();
    let read = parse_header(&file).unwrap();
    assert_eq!(read.media_name.as_deref(), Some("Asthma_12_Extract"));
    assert_eq!(read.backup_kind, BackupKind::Unknown);
    assert_eq!(read.user_name, None);

    let dir = TempDir::new().unwrap();
    let path = write(&dir, "long.bak", &file);
    assert_eq!(read_header(&path).unwrap(), read);

    // The same file cut inside the window has no set at all: it is truncated.
    let cut = bak::truncated(&file, HEADER_WINDOW - 1);
    assert!(matches!(parse_header(&cut), Err(HeaderProblem::Truncated { .. })));
}

fn example_header() -> Header {
    Header {
        user_name: "HIC\\rdmp.extractor".to_owned(),
        media_description: "Project 1234 extraction configuration Asthma_12".to_owned(),
        ..Header::full("Asthma_12_Extract")
    }
}

#[test]
fn example_backup_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    let expected = example_header().build();
    if std::env::var_os("RELEASE_WRITE_EXAMPLE_BAK").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read(&path).unwrap();
    assert!(
        actual == expected,
        "{EXAMPLE} is stale: run `RELEASE_WRITE_EXAMPLE_BAK=1 cargo test -p release --test it \
         bak::example` and check the file in"
    );
    let read = read_header(&path).unwrap();
    assert_eq!(read.media_name.as_deref(), Some("Asthma_12_Extract"));
    assert_eq!(read.user_name.as_deref(), Some("HIC\\rdmp.extractor"));
    assert_eq!(read.backup_kind, BackupKind::Full);
}

/// A deterministic stand-in for fuzzing: ~100,000 inputs made from valid headers by cutting,
/// flipping bits, overwriting bytes and splicing noise, with the checksums often repaired so
/// that the damage reaches the fields behind them. The parser must return, never panic.
#[test]
fn damaged_headers_never_panic() {
    let sources = [
        Header::full("Asthma_12_Extract").build(),
        Header { strings: Strings::Ansi, size: 2048, ..Header::full("x") }.build(),
        Header { set_offset: 4096, size: 6000, ..Header::full("Diabetes_15") }.build(),
        bak::compressed(600),
    ];
    let mut rng = XorShift(0x0BAC_0BAC_0BAC_0BAC);
    let mut outcomes = [0usize; 2];
    for case in 0..100_000 {
        let source = &sources[case % sources.len()];
        let mut input = source.clone();
        for _ in 0..=rng.below(8) {
            mutate(&mut input, &mut rng);
        }
        if rng.below(2) == 0 {
            for offset in [0, 1024, 4096] {
                if input.len() >= offset + bak::COMMON_LEN {
                    bak::fix_checksum(&mut input, offset);
                }
            }
        }
        outcomes[usize::from(parse_header(&input).is_ok())] += 1;
    }
    // Both outcomes must be common, or the mutations are not reaching the fields.
    assert!(outcomes.iter().all(|&n| n > 10_000), "{outcomes:?}");
}

fn mutate(input: &mut Vec<u8>, rng: &mut XorShift) {
    let len = input.len().max(1);
    match rng.below(6) {
        0 => input.truncate(rng.below(len)),
        1 | 2 => {
            // Flip a bit, mostly among the header fields and string addresses.
            let at = if rng.below(4) == 0 { rng.below(len) } else { rng.below(200.min(len)) };
            if let Some(byte) = input.get_mut(at) {
                *byte ^= 1 << rng.below(8);
            }
        }
        3 => {
            // Overwrite a string address or a field with an extreme value.
            let at =
                [8, 48, 64, 68, 70, 80, 82, 84, 88, 1024 + 64, 1024 + 78, 1024 + 88][rng.below(12)];
            let value: [u8; 2] = [[0xFF, 0xFF], [0, 0], [0xFF, 0x7F], [0x5E, 0x00]][rng.below(4)];
            if let Some(slot) = input.get_mut(at..at + 2) {
                slot.copy_from_slice(&value);
            }
        }
        4 => {
            let at = rng.below(len);
            let noise = bak::garbage(rng.below(64), rng.next());
            let end = (at + noise.len()).min(input.len());
            input[at..end].copy_from_slice(&noise[..end - at]);
        }
        _ => {
            let extra = bak::garbage(rng.below(2048), rng.next());
            input.extend(extra);
        }
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
