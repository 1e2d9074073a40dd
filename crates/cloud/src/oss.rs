//! The OSS client: signing, credentials, one function per REST call, typed errors.
//!
//! ```text
//!  OssConfig ─▶ config::ResolvedEndpoint (https, virtual-hosted / path-style for loopback)
//!  Credentials (env, ~/.aliyun/config.json) ─┐
//!  request::<operation>(…) ─▶ OssRequest ─▶ client: date headers ─▶ sign (V1/V4) ─▶ reqwest
//!                                              ◀─ answer: xml / headers ─▶ types / error::OssError
//! ```
//!
//! The client is stateless apart from a shared clock-skew offset; upload scheduling and part
//! bookkeeping belong to `upload`. The signing functions in [`sign`] are pure and shared with
//! the emulator's verifier.

pub mod client;
pub mod config;
pub mod error;
pub mod request;
pub mod sign;
pub mod types;
pub mod xml;

pub use crate::credentials::{CredentialError, CredentialProvider, Credentials};
pub use client::OssClient;
pub use config::{
    Addressing, OssConfig, ResolvedEndpoint, SignatureVersion, internal_endpoint, public_endpoint,
};
pub use error::{Operation, OssError, ServiceError, Target};
pub use types::{
    BucketInfo, CompleteOutput, CompletedPart, GetObjectOutput, ObjectMeta, PartInfo,
    PutObjectOutput, UploadInfo, UploadPartOutput, WriteOutput,
};

#[cfg(test)]
mod tests {
    //! Section D of `vectors/oss_sign_vectors.out` and the Content-MD5 values of section B: the
    //! checksums OSS sends and checks, computed with `crate::checksum`.
    use crate::checksum::{content_md5, crc64, crc64_combine, crc64_of_pieces};

    #[test]
    fn crc64_values_oss_sends() {
        let part_body = b"0123456789".repeat(10);
        let cases: [(&[u8], u64); 7] = [
            (b"", 0),
            (b"a", 3675645893302102789),
            (b"123456789", 11051210869376104954),
            (b"hello world", 5981764153023615706),
            (
                b"This is a test of the emergency broadcast system.",
                2871916124362751090,
            ),
            (
                b"Even if I could be Shakespeare, I think I should still choose to be Faraday. - A. Huxley",
                8850241425668899847,
            ),
            (&part_body, 15511097709409610797),
        ];
        for (input, expected) in cases {
            assert_eq!(
                crc64(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn crc64_combine_values() {
        let big: Vec<u8> = (0..1u32 << 20)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        assert_eq!(crc64(&big), 16028127081582314172);
        let parts = big
            .chunks(100 * 1024)
            .map(|p| (crc64(p), u64::try_from(p.len()).unwrap()));
        assert_eq!(crc64_of_pieces(parts), 16028127081582314172);
        assert_eq!(crc64(b"12345"), 0x5DA746FFA5045CE9);
        assert_eq!(crc64(b"6789"), 0x8EA5EB02AD6E7911);
        assert_eq!(
            crc64_combine(0x5DA746FFA5045CE9, 0x8EA5EB02AD6E7911, 4),
            0x995DC9BBDF1939FA
        );
    }

    #[test]
    fn content_md5_values_of_section_b() {
        assert_eq!(
            content_md5(&b"0123456789".repeat(10)),
            "egiwfoRkFwPl8sg2qlmhcA=="
        );
        let complete_xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\
<Part><PartNumber>1</PartNumber><ETag>\"7D7A0F1C6A2A9D7B1E3B6B5D0C4E7F21\"</ETag></Part>\
</CompleteMultipartUpload>";
        assert_eq!(content_md5(complete_xml), "zsjdfFkLp7FSiLB46g/TAw==");
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
