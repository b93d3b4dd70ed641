//! Content digests of local files: the full-object CRC64NVME that S3 computes too (the
//! identity used to compare with what is stored), and SHA-256 for people.

use crc_fast::{CrcAlgorithm, Digest as Crc};
use sha2::{Digest as _, Sha256};

/// Both digests of some content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digests {
    pub crc64nvme: u64,
    pub sha256: [u8; 32],
}

impl Digests {
    /// Digests of bytes held in memory.
    pub fn of(bytes: &[u8]) -> Digests {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The CRC64NVME as S3 writes it in `x-amz-checksum-crc64nvme`: base64 of 8 big-endian
    /// bytes.
    pub fn crc64nvme_base64(&self) -> String {
        crc64nvme_base64(self.crc64nvme)
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Base64 of a CRC64NVME value, as S3 headers carry it.
pub fn crc64nvme_base64(value: u64) -> String {
    aws_smithy_types::base64::encode(value.to_be_bytes())
}

/// Both digests computed in one pass over the bytes.
pub struct Hasher {
    crc: Crc,
    sha: Sha256,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher { crc: Crc::new(CrcAlgorithm::Crc64Nvme), sha: Sha256::new() }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        self.sha.update(bytes);
    }

    pub fn finish(self) -> Digests {
        Digests { crc64nvme: self.crc.finalize(), sha256: self.sha.finalize().into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // CRC-64/NVME check value for "123456789" and the SHA-256 of the same bytes.
        let digests = Digests::of(b"123456789");
        assert_eq!(digests.crc64nvme, 0xAE8B_1486_0A79_9888);
        assert_eq!(
            digests.sha256_hex(),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        assert_eq!(digests.crc64nvme_base64(), "rosUhgp5mIg=");
    }

    #[test]
    fn one_pass_in_pieces_equals_whole() {
        let mut hasher = Hasher::new();
        hasher.update(b"1234");
        hasher.update(b"56789");
        assert_eq!(hasher.finish(), Digests::of(b"123456789"));
    }
}
