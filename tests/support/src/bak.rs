//! Bytes that look like the start of SQL Server backups, for tests of `.bak` header reading.
//!
//! [`Header`] lays out an uncompressed backup the way Microsoft Tape Format 1.00a describes
//! it: a `TAPE` descriptor block at byte 0, a soft filemark (`SFMB`) block at byte 512 and an
//! `SSET` block (by default at byte 1024), each with a correct header checksum, then zeros up
//! to the size asked for. No data streams are written: a real backup's pages are not needed
//! to test its header. [`compressed`] makes the `MSSQLBAK` start of a compressed backup, and
//! the other functions spoil good bytes in the ways tests need.
//!
//! The layout written here is independent of the reader in `release`, so that a test checks
//! the reader against a second reading of the format, not against itself.

use jiff::civil::DateTime;

/// What SQL Server writes as the software name.
pub const SOFTWARE_NAME: &str = "Microsoft SQL Server";

/// Length of the common descriptor block header.
pub const COMMON_LEN: usize = 52;

/// Where the header checksum sits in a common header.
pub const CHECKSUM_AT: usize = 50;

/// The kind of backup, as the SSET attribute bits record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `SSET_NORMAL`.
    Full,
    /// `SSET_DIFFERENTIAL`.
    Differential,
    /// `SSET_COPY` with `SSET_NORMAL`.
    CopyOnly,
    /// Any other attribute bits.
    Attributes(u32),
}

impl Kind {
    pub fn attributes(self) -> u32 {
        match self {
            Kind::Full => 1 << 2,
            Kind::Differential => 1 << 3,
            Kind::CopyOnly => (1 << 1) | (1 << 2),
            Kind::Attributes(bits) => bits,
        }
    }
}

/// How the blocks' strings are encoded (the common header's string type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// Type 1, one byte per character.
    Ansi,
    /// Type 2, UTF-16LE, as SQL Server writes them.
    Unicode,
}

/// The start of an uncompressed backup. Start from [`Header::full`] and change fields with
/// struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub media_name: String,
    pub media_description: String,
    pub software_name: String,
    pub data_set_name: String,
    pub user_name: String,
    pub written_at: DateTime,
    pub media_date: DateTime,
    pub kind: Kind,
    pub software_version: (u8, u8),
    pub time_zone: i8,
    pub block_size: u16,
    pub media_family_id: u32,
    pub data_set_number: u16,
    pub strings: Strings,
    /// Where the SSET block starts: a multiple of 512, at least 1024.
    pub set_offset: usize,
    /// Length of the whole file; zeros fill what the blocks do not use.
    pub size: usize,
}

impl Header {
    /// A full backup on media called `media_name`, 4 KiB long.
    pub fn full(media_name: &str) -> Header {
        let written_at = jiff::civil::date(2026, 11, 30).at(14, 5, 9, 0);
        Header {
            media_name: media_name.to_owned(),
            media_description: String::new(),
            software_name: SOFTWARE_NAME.to_owned(),
            data_set_name: String::new(),
            user_name: "TRE\\data.manager".to_owned(),
            written_at,
            media_date: written_at,
            kind: Kind::Full,
            software_version: (16, 0),
            time_zone: 0,
            block_size: 1024,
            media_family_id: 0x5EED_0001,
            data_set_number: 1,
            strings: Strings::Unicode,
            set_offset: 1024,
            size: 4096,
        }
    }

    /// The bytes of the file.
    pub fn build(&self) -> Vec<u8> {
        let set = self.set_block();
        let mut file = vec![0u8; self.size.max(self.set_offset + set.len())];
        place(&mut file, 0, &self.tape_block());
        place(&mut file, 512, &soft_filemark());
        place(&mut file, self.set_offset, &set);
        file.truncate(self.size);
        file
    }

    fn tape_block(&self) -> Vec<u8> {
        let mut block = common(b"TAPE", self.strings);
        block.extend(self.media_family_id.to_le_bytes());
        block.extend(0u32.to_le_bytes()); // TAPE attributes
        block.extend(1u16.to_le_bytes()); // media sequence number
        block.extend(0u16.to_le_bytes()); // password encryption algorithm
        block.extend(0u16.to_le_bytes()); // soft filemark block size
        block.extend(0u16.to_le_bytes()); // media-based catalog type
        let strings = [
            self.media_name.as_str(),
            self.media_description.as_str(),
            "", // media password
            self.software_name.as_str(),
        ];
        let addresses_at = block.len();
        block.extend([0u8; 16]);
        block.extend(self.block_size.to_le_bytes());
        block.extend(0x1200u16.to_le_bytes()); // software vendor id
        block.extend(pack_date(self.media_date));
        block.push(1); // MTF major version
        assert_eq!(block.len(), 94, "TAPE fixed part");
        self.append_strings(&mut block, addresses_at, &strings);
        finish(block)
    }

    fn set_block(&self) -> Vec<u8> {
        let mut block = common(b"SSET", self.strings);
        block.extend(self.kind.attributes().to_le_bytes());
        block.extend(0u16.to_le_bytes()); // password encryption algorithm
        block.extend(0u16.to_le_bytes()); // software compression algorithm
        block.extend(0x1200u16.to_le_bytes()); // software vendor id
        block.extend(self.data_set_number.to_le_bytes());
        let strings = [
            self.data_set_name.as_str(),
            "", // description
            "", // password
            self.user_name.as_str(),
        ];
        let addresses_at = block.len();
        block.extend([0u8; 16]);
        block.extend(0u64.to_le_bytes()); // physical block address
        block.extend(pack_date(self.written_at));
        block.push(self.software_version.0);
        block.push(self.software_version.1);
        block.extend(self.time_zone.to_le_bytes());
        block.push(0); // MTF minor version
        block.push(0); // media catalog version
        assert_eq!(block.len(), 98, "SSET fixed part");
        self.append_strings(&mut block, addresses_at, &strings);
        finish(block)
    }

    /// Appends the strings after the fixed part and writes their MTF_TAPE_ADDRESSes (size,
    /// offset from the block's start) at `addresses_at`; empty strings get a zero address.
    fn append_strings(&self, block: &mut Vec<u8>, addresses_at: usize, strings: &[&str]) {
        for (index, text) in strings.iter().enumerate() {
            let encoded = encode(text, self.strings);
            let (size, offset) =
                if encoded.is_empty() { (0, 0) } else { (encoded.len(), block.len()) };
            let at = addresses_at + 4 * index;
            block[at..at + 2].copy_from_slice(&small(size).to_le_bytes());
            block[at + 2..at + 4].copy_from_slice(&small(offset).to_le_bytes());
            block.extend(encoded);
        }
        // The first stream of the block would start after the strings, 4-byte aligned.
        let first_event = small(block.len().next_multiple_of(4));
        block[8..10].copy_from_slice(&first_event.to_le_bytes());
    }
}

/// A compressed backup's first bytes: the `MSSQLBAK` signature, then filler to `size`.
pub fn compressed(size: usize) -> Vec<u8> {
    let mut file = b"MSSQLBAK".to_vec();
    file.extend(noise(size.saturating_sub(8), 0xC0FF_EE00));
    file.truncate(size);
    file
}

/// The first `len` bytes of `file`.
pub fn truncated(file: &[u8], len: usize) -> Vec<u8> {
    file[..len.min(file.len())].to_vec()
}

/// `file` with the header checksum of the block at `offset` changed.
pub fn with_bad_checksum(file: &[u8], offset: usize) -> Vec<u8> {
    let mut file = file.to_vec();
    file[offset + CHECKSUM_AT] ^= 0x5A;
    file
}

/// `len` bytes of deterministic noise.
pub fn garbage(len: usize, seed: u64) -> Vec<u8> {
    noise(len, seed)
}

/// The XOR of the first 25 little-endian words of a common header.
pub fn checksum(common: &[u8]) -> u16 {
    common[..CHECKSUM_AT].chunks_exact(2).fold(0, |acc, w| acc ^ u16::from_le_bytes([w[0], w[1]]))
}

/// Rewrites the header checksum of the block at `offset` to match its header.
pub fn fix_checksum(file: &mut [u8], offset: usize) {
    let sum = checksum(&file[offset..offset + COMMON_LEN]);
    file[offset + CHECKSUM_AT..offset + COMMON_LEN].copy_from_slice(&sum.to_le_bytes());
}

/// MTF's 5-byte date: 14 bits of year, 4 of month, 5 of day, 5 of hour, 6 of minute and 6
/// of second, most significant first.
pub fn pack_date(at: DateTime) -> [u8; 5] {
    let fields = [
        (at.year() as u64, 14),
        (at.month() as u64, 4),
        (at.day() as u64, 5),
        (at.hour() as u64, 5),
        (at.minute() as u64, 6),
        (at.second() as u64, 6),
    ];
    let bits = fields.iter().fold(0u64, |acc, &(value, width)| (acc << width) | value);
    let bytes = bits.to_be_bytes();
    [bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
}

/// A common header with the type tag, Windows NT as the OS and the string type; the rest is
/// filled in by [`finish`] and the block's own code.
fn common(tag: &[u8; 4], strings: Strings) -> Vec<u8> {
    let mut header = vec![0u8; COMMON_LEN];
    header[..4].copy_from_slice(tag);
    header[10] = 14; // OS id: Windows NT
    header[48] = match strings {
        Strings::Ansi => 1,
        Strings::Unicode => 2,
    };
    header
}

fn finish(mut block: Vec<u8>) -> Vec<u8> {
    fix_checksum(&mut block, 0);
    block
}

fn soft_filemark() -> Vec<u8> {
    let mut block = common(b"SFMB", Strings::Unicode);
    block[8..10].copy_from_slice(&(COMMON_LEN as u16).to_le_bytes());
    finish(block)
}

fn encode(text: &str, strings: Strings) -> Vec<u8> {
    match strings {
        Strings::Ansi => text.as_bytes().to_vec(),
        Strings::Unicode => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    }
}

fn place(file: &mut [u8], offset: usize, block: &[u8]) {
    file[offset..offset + block.len()].copy_from_slice(block);
}

fn small(value: usize) -> u16 {
    u16::try_from(value).expect("a descriptor block's strings fit in 64 KiB")
}

/// A xorshift64 stream: the same bytes for the same seed, on every machine.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
