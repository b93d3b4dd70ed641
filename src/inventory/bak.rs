//! Headers of SQL Server backups (`.bak` files), read before anything is uploaded.
//!
//! Inventory step: a manifest's `databases` name backups; before a plan stages one in S3 and
//! restores it, the first 64 KiB of each file are read here so that a file which is not a
//! backup is refused early, and so that the plan can say what the backup claims to be.
//!
//! What is read, and how far it is trusted:
//!
//! 1. A compressed backup starts with the 8 bytes `MSSQLBAK`. What follows is SQL Server's own
//!    undocumented container, so nothing else is read: the header says `compressed` and the
//!    rest is unknown.
//! 2. An uncompressed backup is Microsoft Tape Format (MTF 1.00a). It starts with a `TAPE`
//!    descriptor block: a 52-byte common header (type tag, attributes, string type and an
//!    XOR checksum of the header's 25 little-endian words) and the TAPE fields (media name,
//!    software name, format logical block size, media date...). The tag and the checksum are
//!    the gate: a file that fails them is refused.
//! 3. The `SSET` block (start of the backup set: attributes, user name, write date, software
//!    version) follows after the TAPE block's streams and (third-party readers report) a
//!    soft filemark block. MTF puts every descriptor block on a format logical block
//!    boundary, and those are multiples of 512 bytes, so the SSET is looked for at each
//!    512-byte boundary whose common header has the `SSET` tag and a correct checksum.
//!    Finding it is a search, so not finding it in the first 64 KiB of a longer file is not
//!    an error: the set's fields are then unknown. A file that ends before any SSET is
//!    truncated.
//!
//! Everything else is a hint: which SSET attribute bits mean full, differential or copy-only
//! ([`BackupKind`]), whether dates are local or UTC, what the time zone byte means. None of it
//! decides whether a file is accepted. The database name, backup-set GUID and LSNs live in SQL
//! Server's undocumented stream after the SSET and are not read.
//!
//! The parser never panics, whatever the bytes: every read goes through a bounds check. It
//! uses only `std`, `thiserror` and `jiff`, so that the fuzz target in `fuzz/` can compile
//! this file on its own; keep it that way.

use std::fmt;
use std::io::Read;
use std::path::Path;

use jiff::civil::DateTime;

/// How much of a file [`read_header`] reads, and how much of its input [`parse_header`]
/// looks at.
pub const HEADER_WINDOW: usize = 64 * 1024;

/// Most files a striped backup may have: RDS restores at most 10.
pub const MAX_STRIPES: usize = 10;

/// What a compressed backup starts with.
const COMPRESSED_SIGNATURE: &[u8] = b"MSSQLBAK";

/// Length of MTF_DB_HDR, the header every descriptor block starts with.
const COMMON_LEN: usize = 52;

/// Length of the fixed part of the TAPE and SSET blocks, common header included.
const TAPE_LEN: usize = 94;
const SSET_LEN: usize = 98;

/// The smallest format logical block: descriptor blocks start on multiples of it.
const ALIGNMENT: usize = 512;

/// SSET attribute bits, as MTF 1.00a defines them.
const SSET_COPY: u32 = 1 << 1;
const SSET_NORMAL: u32 = 1 << 2;
const SSET_DIFFERENTIAL: u32 = 1 << 3;

/// What the start of a backup file says about it. Fields are `None` where the file does not
/// carry them (every field of a compressed backup, the set's fields when no SSET block was
/// found) or carries an empty string or an invalid date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupHeader {
    /// The file starts with `MSSQLBAK`: a backup made `WITH COMPRESSION`.
    pub compressed: bool,

    /// TAPE: the media name (`BACKUP ... WITH MEDIANAME`), often empty.
    pub media_name: Option<String>,
    /// TAPE: the media description (`MEDIADESCRIPTION`).
    pub media_description: Option<String>,
    /// TAPE: the writing software, `Microsoft SQL Server` for SQL Server.
    pub software_name: Option<String>,
    /// TAPE: the MTF media family id. Whether SQL Server gives each stripe its own is not
    /// documented.
    pub media_family_id: Option<u32>,
    /// TAPE: the media's position in its family, 1 for a file on disk.
    pub media_sequence: Option<u16>,
    /// TAPE: the MTF format logical block size in bytes. Not necessarily the `BLOCKSIZE`
    /// the backup was written with.
    pub block_size: Option<u16>,
    /// TAPE: when the media was written (packed MTF date; local or UTC is not documented).
    pub media_date: Option<DateTime>,
    /// TAPE: the MTF major version, 1 for MTF 1.00a.
    pub mtf_major_version: Option<u8>,

    /// SSET: full, differential or copy-only, from the set attributes. A hint: see
    /// [`BackupKind`].
    pub backup_kind: BackupKind,
    /// SSET: the raw set attributes, for what [`BackupKind`] does not name.
    pub set_attributes: Option<u32>,
    /// SSET: the data set's number on the media (`FILE = n` in `RESTORE`).
    pub data_set_number: Option<u16>,
    /// SSET: the data set name (`BACKUP ... WITH NAME`).
    pub data_set_name: Option<String>,
    /// SSET: the login that took the backup.
    pub user_name: Option<String>,
    /// SSET: when the set was written (packed MTF date; local or UTC is not documented).
    pub written_at: Option<DateTime>,
    /// SSET: MTF's time zone byte, kept raw. MTF counts quarter hours from UTC and uses 127
    /// for "local time, not related to UTC"; whether SQL Server fills it in is not known.
    pub time_zone: Option<i8>,
    /// SSET: the writing software's version (SQL Server's major and minor version).
    pub software_version: Option<SoftwareVersion>,
}

/// What kind of backup the SSET attributes say a set is.
///
/// MTF 1.00a defines the bits `SSET_COPY` (bit 1), `SSET_NORMAL` (bit 2) and
/// `SSET_DIFFERENTIAL` (bit 3). SQL Server is reported by third-party readers to set NORMAL
/// for a full backup, COPY (with NORMAL) for `COPY_ONLY` and DIFFERENTIAL for a differential
/// one; Microsoft does not document this, so the kind is a hint to show in a plan, never a
/// reason to refuse a file. COPY wins over DIFFERENTIAL, which wins over NORMAL; anything
/// else (a log backup, for instance) is `Unknown`, as is a compressed backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BackupKind {
    Full,
    Differential,
    CopyOnly,
    #[default]
    Unknown,
}

impl BackupKind {
    /// The kind the SSET attribute bits suggest.
    pub fn from_set_attributes(attributes: u32) -> BackupKind {
        if attributes & SSET_COPY != 0 {
            BackupKind::CopyOnly
        } else if attributes & SSET_DIFFERENTIAL != 0 {
            BackupKind::Differential
        } else if attributes & SSET_NORMAL != 0 {
            BackupKind::Full
        } else {
            BackupKind::Unknown
        }
    }
}

impl fmt::Display for BackupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackupKind::Full => "full",
            BackupKind::Differential => "differential",
            BackupKind::CopyOnly => "copy-only",
            BackupKind::Unknown => "unknown",
        })
    }
}

/// The version of the software that wrote a backup set, as the SSET block holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoftwareVersion {
    pub major: u8,
    pub minor: u8,
}

impl fmt::Display for SoftwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a backup file could not be read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum BakError {
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("`{path}` {problem}")]
    Invalid { path: String, problem: HeaderProblem },
    #[error(
        "a striped backup has 1 to {MAX_STRIPES} files, but {count} were given{}",
        first_file(.first)
    )]
    StripeCount { count: usize, first: Option<String> },
}

fn first_file(first: &Option<String>) -> String {
    first.as_ref().map(|path| format!(", starting with `{path}`")).unwrap_or_default()
}

impl BakError {
    /// What the person running `release` can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            BakError::Read { .. } => None,
            BakError::Invalid { problem, .. } => Some(problem.hint()),
            BakError::StripeCount { .. } => {
                Some("list every file of the striped backup once; RDS restores at most 10")
            }
        }
    }
}

/// What is wrong with the start of a backup file. Messages follow the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderProblem {
    #[error("is empty, so it is not a SQL Server backup")]
    Empty,
    #[error(
        "is not a SQL Server backup: it does not start with an MTF `TAPE` block or the \
         `MSSQLBAK` signature"
    )]
    NotABackup,
    #[error("is truncated: it ends after {len} bytes, {place}")]
    Truncated { len: usize, place: &'static str },
    #[error(
        "has a damaged MTF `{block}` block at byte {offset}: its header checksum is \
         {stored:#06x} but its header words XOR to {computed:#06x}"
    )]
    BadChecksum { block: &'static str, offset: usize, stored: u16, computed: u16 },
    #[error(
        "has a damaged MTF `{block}` block at byte {offset}: its {field} is said to be at bytes \
         {start}..{end} of the block, which {reason}"
    )]
    StringOutsideBlock {
        block: &'static str,
        offset: usize,
        field: &'static str,
        start: usize,
        end: usize,
        reason: &'static str,
    },
}

impl HeaderProblem {
    fn hint(&self) -> &'static str {
        match self {
            HeaderProblem::Empty | HeaderProblem::Truncated { .. } => {
                "copy the backup again from where SQL Server wrote it, and check the copy finished"
            }
            HeaderProblem::NotABackup => {
                "check that the manifest names the file that `BACKUP DATABASE` wrote"
            }
            HeaderProblem::BadChecksum { .. } | HeaderProblem::StringOutsideBlock { .. } => {
                "the file is damaged: copy the backup again; `RESTORE HEADERONLY` on a SQL Server \
                 tells whether the original is sound"
            }
        }
    }
}

/// Reads the header of the backup at `path`, looking at no more than its first 64 KiB.
pub fn read_header(path: &Path) -> Result<BackupHeader, BakError> {
    let shown = path.display().to_string();
    let read_error = |source| BakError::Read { path: shown.clone(), source };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::with_capacity(HEADER_WINDOW);
    file.take(HEADER_WINDOW as u64).read_to_end(&mut bytes).map_err(read_error)?;
    parse_header(&bytes).map_err(|problem| BakError::Invalid { path: shown, problem })
}

/// Reads the headers of the files of a striped backup, in order.
///
/// Each file must be a backup on its own. Whether they are stripes of the same backup cannot
/// be proved from the documented header: the media set GUID and the family count live in SQL
/// Server's undocumented stream, and compressed stripes show nothing at all. What the
/// documented fields allow is a comparison of what every stripe of one backup should share
/// (compression, kind, write date, software version, media and user name, set number): see
/// [`stripe_hints`]. A duplicated file, a missing stripe or a stripe of another backup taken
/// the same second go unnoticed here; the restore itself finds them.
pub fn read_striped<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<BackupHeader>, BakError> {
    if paths.is_empty() || paths.len() > MAX_STRIPES {
        let first = paths.first().map(|path| path.as_ref().display().to_string());
        return Err(BakError::StripeCount { count: paths.len(), first });
    }
    paths.iter().map(|path| read_header(path.as_ref())).collect()
}

/// A field on which a stripe differs from the first stripe of its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeHint {
    /// The stripe's position in the set, from 0.
    pub stripe: usize,
    pub field: &'static str,
    /// The value on the first stripe, and on this one.
    pub first: String,
    pub this: String,
}

impl fmt::Display for StripeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stripe {} has {} {}, but stripe 1 has {}; the files may not be one backup",
            self.stripe + 1,
            self.field,
            self.this,
            self.first
        )
    }
}

/// The differences between the stripes of a set that suggest they are not one backup.
/// Fields unknown on either stripe are not compared. Hints only: see [`read_striped`].
pub fn stripe_hints(headers: &[BackupHeader]) -> Vec<StripeHint> {
    let Some((first, rest)) = headers.split_first() else { return Vec::new() };
    let mut hints = Vec::new();
    for (index, header) in rest.iter().enumerate() {
        let mut compare = |field, a: Option<String>, b: Option<String>| {
            if let (Some(first), Some(this)) = (a, b)
                && first != this
            {
                hints.push(StripeHint { stripe: index + 1, field, first, this });
            }
        };
        let kind = |h: &BackupHeader| Some(h.backup_kind).filter(|k| *k != BackupKind::Unknown);
        let shown = |value: Option<&String>| value.map(|v| format!("`{v}`"));
        compare("compression", Some(compressed(first)), Some(compressed(header)));
        compare("kind", kind(first).map(|k| k.to_string()), kind(header).map(|k| k.to_string()));
        compare(
            "write date",
            first.written_at.map(|d| d.to_string()),
            header.written_at.map(|d| d.to_string()),
        );
        compare(
            "software version",
            first.software_version.map(|v| v.to_string()),
            header.software_version.map(|v| v.to_string()),
        );
        compare("media name", shown(first.media_name.as_ref()), shown(header.media_name.as_ref()));
        compare("user name", shown(first.user_name.as_ref()), shown(header.user_name.as_ref()));
        compare(
            "data set number",
            first.data_set_number.map(|n| n.to_string()),
            header.data_set_number.map(|n| n.to_string()),
        );
    }
    hints
}

fn compressed(header: &BackupHeader) -> String {
    (if header.compressed { "compressed" } else { "uncompressed" }).to_owned()
}

/// Parses the start of a backup file.
///
/// Only the first [`HEADER_WINDOW`] bytes are looked at. Input shorter than that is taken to
/// be the whole file, so that ending early is reported as truncation; longer input is taken
/// to continue past the window.
pub fn parse_header(bytes: &[u8]) -> Result<BackupHeader, HeaderProblem> {
    let input = Input {
        bytes: bytes.get(..HEADER_WINDOW).unwrap_or(bytes),
        whole_file: bytes.len() < HEADER_WINDOW,
    };
    if input.bytes.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    if input.bytes.starts_with(COMPRESSED_SIGNATURE) {
        return Ok(BackupHeader { compressed: true, ..BackupHeader::default() });
    }
    if !input.bytes.starts_with(b"TAPE") {
        return Err(HeaderProblem::NotABackup);
    }

    let tape = input.block(0, Kind::Tape)?;
    let mut header = tape.read_tape()?;
    if let Some(set) = input.find_set()? {
        set.read_set(&mut header)?;
    }
    Ok(header)
}

/// The bytes being parsed, and whether they are the whole file.
#[derive(Clone, Copy)]
struct Input<'a> {
    bytes: &'a [u8],
    whole_file: bool,
}

/// A descriptor block whose common header checked out.
struct Block<'a> {
    input: Input<'a>,
    /// The input from the block's first byte on.
    bytes: &'a [u8],
    offset: usize,
    kind: Kind,
    string_type: u8,
}

/// The two descriptor blocks that are read.
#[derive(Clone, Copy)]
enum Kind {
    Tape,
    Set,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tape => "TAPE",
            Kind::Set => "SSET",
        }
    }

    /// Length of the block's fixed part, common header included.
    fn fixed_len(self) -> usize {
        match self {
            Kind::Tape => TAPE_LEN,
            Kind::Set => SSET_LEN,
        }
    }

    fn in_common(self) -> &'static str {
        match self {
            Kind::Tape => "inside the common header of its MTF `TAPE` block",
            Kind::Set => "inside the common header of its MTF `SSET` block",
        }
    }

    fn in_fixed(self) -> &'static str {
        match self {
            Kind::Tape => "inside the fixed fields of its MTF `TAPE` block",
            Kind::Set => "inside the fixed fields of its MTF `SSET` block",
        }
    }
}

impl<'a> Input<'a> {
    fn truncated(&self, place: &'static str) -> HeaderProblem {
        HeaderProblem::Truncated { len: self.bytes.len(), place }
    }

    /// The block of `kind` at `offset`: its common header must be there with a good
    /// checksum, and its fixed fields must follow.
    fn block(&self, offset: usize, kind: Kind) -> Result<Block<'a>, HeaderProblem> {
        let bytes = self.bytes.get(offset..).unwrap_or_default();
        let common = bytes.get(..COMMON_LEN).ok_or_else(|| self.truncated(kind.in_common()))?;
        let stored = u16_at(common, COMMON_LEN - 2).unwrap_or_default();
        let computed = checksum(common);
        if stored != computed {
            let block = kind.name();
            return Err(HeaderProblem::BadChecksum { block, offset, stored, computed });
        }
        if bytes.len() < kind.fixed_len() {
            return Err(self.truncated(kind.in_fixed()));
        }
        let string_type = common.get(48).copied().unwrap_or_default();
        Ok(Block { input: *self, bytes, offset, kind, string_type })
    }

    /// The first SSET block after the TAPE block, looked for on 512-byte boundaries. A block
    /// tagged `SSET` whose checksum is wrong is skipped, and reported only if no sound one
    /// follows it.
    fn find_set(&self) -> Result<Option<Block<'a>>, HeaderProblem> {
        let mut damaged = None;
        let mut offset = ALIGNMENT;
        while let Some(candidate) = self.bytes.get(offset..) {
            if candidate.starts_with(b"SSET") {
                match self.set_at(offset) {
                    Err(problem @ HeaderProblem::BadChecksum { .. }) => {
                        damaged = damaged.or(Some(problem));
                    }
                    found => return found,
                }
            }
            offset += ALIGNMENT;
        }
        match damaged {
            Some(problem) => Err(problem),
            None if self.whole_file => Err(self.truncated("before its MTF `SSET` block")),
            None => Ok(None),
        }
    }

    /// The SSET block at `offset`; one cut off by the end of the window is left unread.
    fn set_at(&self, offset: usize) -> Result<Option<Block<'a>>, HeaderProblem> {
        match self.block(offset, Kind::Set) {
            Ok(block) => Ok(Some(block)),
            Err(HeaderProblem::Truncated { .. }) if !self.whole_file => Ok(None),
            Err(problem) => Err(problem),
        }
    }
}

impl Block<'_> {
    fn read_tape(&self) -> Result<BackupHeader, HeaderProblem> {
        let b = self.bytes;
        Ok(BackupHeader {
            media_family_id: u32_at(b, 52),
            media_sequence: u16_at(b, 60),
            media_name: self.string("media name", 68)?,
            media_description: self.string("media description", 72)?,
            software_name: self.string("software name", 80)?,
            block_size: u16_at(b, 84),
            media_date: array_at(b, 88).and_then(packed_date),
            mtf_major_version: b.get(93).copied(),
            ..BackupHeader::default()
        })
    }

    fn read_set(&self, header: &mut BackupHeader) -> Result<(), HeaderProblem> {
        let b = self.bytes;
        let attributes = u32_at(b, 52);
        header.set_attributes = attributes;
        header.backup_kind =
            attributes.map_or(BackupKind::Unknown, BackupKind::from_set_attributes);
        header.data_set_number = u16_at(b, 62);
        header.data_set_name = self.string("data set name", 64)?;
        header.user_name = self.string("user name", 76)?;
        header.written_at = array_at(b, 88).and_then(packed_date);
        header.software_version = match (b.get(93), b.get(94)) {
            (Some(&major), Some(&minor)) => Some(SoftwareVersion { major, minor }),
            _ => None,
        };
        header.time_zone = b.get(95).map(|&zone| i8::from_le_bytes([zone]));
        Ok(())
    }

    /// The string whose MTF_TAPE_ADDRESS (size, then offset from the block's start) is at
    /// `address`. Empty strings are `None`, as are strings cut off by the end of the window.
    fn string(&self, field: &'static str, address: usize) -> Result<Option<String>, HeaderProblem> {
        let size = usize::from(u16_at(self.bytes, address).unwrap_or_default());
        let start = usize::from(u16_at(self.bytes, address + 2).unwrap_or_default());
        if size == 0 {
            return Ok(None);
        }
        let end = start + size;
        let outside = |reason| HeaderProblem::StringOutsideBlock {
            block: self.kind.name(),
            offset: self.offset,
            field,
            start,
            end,
            reason,
        };
        if start < self.kind.fixed_len() {
            return Err(outside("overlap the block's fixed fields"));
        }
        match self.bytes.get(start..end) {
            Some(raw) => Ok(decode(self.string_type, raw)),
            None if self.input.whole_file => Err(outside("run past the end of the file")),
            None => Ok(None),
        }
    }
}

/// Decodes an MTF string: type 1 is single-byte ("ANSI", whose code page MTF leaves open; read
/// as UTF-8, replacing what is not), type 2 is UTF-16LE. Trailing NULs are dropped; other
/// types and empty results are `None`.
fn decode(string_type: u8, raw: &[u8]) -> Option<String> {
    let text = match string_type {
        1 => String::from_utf8_lossy(raw).into_owned(),
        2 => {
            let units = raw.chunks_exact(2).map(|pair| match pair {
                [low, high] => u16::from_le_bytes([*low, *high]),
                _ => 0,
            });
            char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
        }
        _ => return None,
    };
    let text = text.trim_end_matches('\0');
    (!text.is_empty()).then(|| text.to_owned())
}

/// MTF's packed date: from the most significant bit of 5 bytes, 14 bits of year, then 4 of
/// month, 5 of day, 5 of hour, 6 of minute and 6 of second. All zeros means no date.
fn packed_date(raw: [u8; 5]) -> Option<DateTime> {
    if raw == [0; 5] {
        return None;
    }
    let bits = raw.iter().fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
    let field = |shift: u32, width: u32| (bits >> shift) & ((1 << width) - 1);
    let small = |value: u64| i8::try_from(value).ok();
    DateTime::new(
        i16::try_from(field(26, 14)).ok()?,
        small(field(22, 4))?,
        small(field(17, 5))?,
        small(field(12, 5))?,
        small(field(6, 6))?,
        small(field(0, 6))?,
        0,
    )
    .ok()
}

/// The XOR of the first 25 little-endian words of a common header.
fn checksum(common: &[u8]) -> u16 {
    common.chunks_exact(2).take(COMMON_LEN / 2 - 1).fold(0, |acc, pair| match pair {
        [low, high] => acc ^ u16::from_le_bytes([*low, *high]),
        _ => acc,
    })
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_dates_decode_field_by_field() {
        // 2026-11-30 14:05:09: year, month, day, hour, minute, second packed from the top.
        let bits: u64 = (2026 << 26) | (11 << 22) | (30 << 17) | (14 << 12) | (5 << 6) | 9;
        let bytes = bits.to_be_bytes();
        let raw = [bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]];
        let expected = DateTime::new(2026, 11, 30, 14, 5, 9, 0).unwrap();
        assert_eq!(packed_date(raw), Some(expected));
    }

    #[test]
    fn missing_and_impossible_dates_are_none() {
        assert_eq!(packed_date([0; 5]), None);
        // Month 13.
        let bits: u64 = (2026 << 26) | (13 << 22) | (1 << 17);
        let bytes = bits.to_be_bytes();
        assert_eq!(packed_date([bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]), None);
        assert_eq!(packed_date([0xFF; 5]), None);
    }

    #[test]
    fn checksum_is_the_xor_of_the_words_before_it() {
        let mut common = [0u8; COMMON_LEN];
        common[..4].copy_from_slice(b"TAPE");
        common[10] = 0x0E;
        let expected = u16::from_le_bytes(*b"TA") ^ u16::from_le_bytes(*b"PE") ^ 0x000E;
        assert_eq!(checksum(&common), expected);
        // The stored checksum itself is not part of the sum.
        common[50..].copy_from_slice(&expected.to_le_bytes());
        assert_eq!(checksum(&common), expected);
    }

    #[test]
    fn kind_follows_the_set_attribute_bits() {
        assert_eq!(BackupKind::from_set_attributes(SSET_NORMAL), BackupKind::Full);
        assert_eq!(BackupKind::from_set_attributes(SSET_DIFFERENTIAL), BackupKind::Differential);
        assert_eq!(BackupKind::from_set_attributes(SSET_COPY | SSET_NORMAL), BackupKind::CopyOnly);
        assert_eq!(BackupKind::from_set_attributes(1 << 4), BackupKind::Unknown);
        assert_eq!(BackupKind::from_set_attributes(0), BackupKind::Unknown);
    }

    #[test]
    fn strings_decode_by_type() {
        let utf16: Vec<u8> = "Asthma\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(2, &utf16).as_deref(), Some("Asthma"));
        assert_eq!(decode(2, &utf16[..5]).as_deref(), Some("As"));
        assert_eq!(decode(1, b"Asthma").as_deref(), Some("Asthma"));
        assert_eq!(decode(0, b"Asthma"), None);
        assert_eq!(decode(2, &[0, 0]), None);
    }

    #[test]
    fn short_inputs_are_refused_without_panicking() {
        assert_eq!(parse_header(b""), Err(HeaderProblem::Empty));
        assert_eq!(parse_header(b"TAP"), Err(HeaderProblem::NotABackup));
        assert!(matches!(parse_header(b"TAPE"), Err(HeaderProblem::Truncated { len: 4, .. })));
        assert_eq!(parse_header(b"MSSQLBAK").map(|h| h.compressed), Ok(true));
    }
}
