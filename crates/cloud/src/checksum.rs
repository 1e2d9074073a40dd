//! Checksums OSS speaks: CRC-64/XZ (OSS calls it `crc64ecma`, header `x-oss-hash-crc64ecma`) and
//! MD5 (`Content-MD5`, ETags). Pure functions; no I/O.
//!
//! The CRC of a multipart object is the CRC of its bytes, so the uploader combines the parts'
//! CRCs instead of reading the file twice. `crc64fast` computes the digest; the combine is the
//! polynomial method of zlib's `crc32_combine` (zlib 1.2.12 `crc32.c`: `multmodp`, `x2nmodp`)
//! carried over to the 64-bit polynomial, because no maintained crate exposes a combine whose
//! shift operator can be computed once and reused: a 10,000-part object then costs one
//! 64-step multiplication per part (see `oss-protocol.md` §2 and `perf-anchors.md` row 14).
//!
//! Where the CPU has VPCLMULQDQ and AVX2 (AMD Zen 3 and later, Intel Ice Lake and later) the
//! digest runs our own 256-bit folding (`checksum/folding.rs`), about twice as fast as
//! `crc64fast`'s 128-bit PCLMULQDQ; elsewhere it is `crc64fast`. No maintained crate folds on
//! 256 bits without AVX-512: `crc-fast` 1.9 (the newest that builds on our MSRV) was measured
//! here too and runs the same 128-bit path as `crc64fast` on this Zen 3. The CRC is about a
//! third of an upload's client CPU, so in interleaved `bench` runs on 4 GiB the client went from
//! 0.415–0.50 to 0.36–0.43 CPU-s/GiB (see `docs/PERFORMANCE.md`).
//!
//! A part's `Content-MD5` is hashed by OpenSSL (its assembly MD5: 0.61–0.63 GiB/s per core here,
//! against 0.50–0.52 for the pure-Rust `md-5`), because with `--content-md5` MD5 is two thirds
//! of all the CPU an upload spends: `bench --content-md5` went from 0.64–0.70 to 0.72–0.81
//! GiB/s in interleaved runs. `md-5` stays as the fallback for an OpenSSL that refuses MD5 (FIPS mode, when built
//! against the system's library with `OPENSSL_NO_VENDOR`), and for the emulator's streaming
//! ETags.

use base64::Engine as _;
use md5::Digest as _;

/// CRC-64/XZ polynomial in reflected form (ECMA-182, as used by xz and OSS).
const POLY_REFLECTED: u64 = 0xC96C_5795_D787_0F42;
/// The polynomial `1` (x^0) in the reflected representation: the top bit.
const X0: u64 = 1 << 63;
/// Entries of `x^(2^k) mod P`: byte lengths up to 2^64 need k up to 64 + 3.
const X2N_ENTRIES: usize = 68;

mod folding;

/// Streaming CRC-64/XZ digest.
#[derive(Clone)]
pub struct Crc64(Engine);

/// Which implementation runs, chosen once per digest from the CPU.
#[derive(Clone)]
enum Engine {
    /// Our 256-bit folding (`folding.rs`), holding the CRC register (`!crc` so far).
    Folding(u64),
    /// `crc64fast`: 128-bit PCLMULQDQ, or its table where there is none.
    Portable(crc64fast::Digest),
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:#018x})", self.value())
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    /// A digest over zero bytes.
    pub fn new() -> Self {
        if folding::available() {
            Crc64(Engine::Folding(!0))
        } else {
            Crc64(Engine::Portable(crc64fast::Digest::new()))
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Engine::Folding(register) => *register = folding::update(*register, bytes),
            Engine::Portable(digest) => digest.write(bytes),
        }
    }

    /// Which implementation this CPU runs, for benchmark reports: the CRC is a fifth to a third
    /// of an upload's client CPU, so figures from two machines compare only with this beside them.
    pub fn engine_name() -> &'static str {
        if folding::available() {
            "256-bit VPCLMULQDQ folding"
        } else {
            "crc64fast (128-bit carry-less multiply, or a table without one)"
        }
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        match &self.0 {
            Engine::Folding(register) => !register,
            Engine::Portable(digest) => digest.sum64(),
        }
    }
}

/// CRC-64/XZ of a buffer.
pub fn crc64(bytes: &[u8]) -> u64 {
    let mut digest = Crc64::new();
    digest.update(bytes);
    digest.value()
}

/// Multiplies a polynomial by x modulo P, in reflected form (bit 63 is x^0): one step of every
/// CRC computation here, from the byte table to the fold constants.
const fn times_x(value: u64) -> u64 {
    if value & 1 != 0 {
        (value >> 1) ^ POLY_REFLECTED
    } else {
        value >> 1
    }
}

/// Multiplies two polynomials modulo P, both in reflected form.
fn multmodp(a: u64, mut b: u64) -> u64 {
    let mut m = X0;
    let mut product = 0;
    loop {
        if a & m != 0 {
            product ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = times_x(b);
    }
    product
}

/// `x^(2^k) mod P` for every k we can need.
fn x2n_table() -> &'static [u64; X2N_ENTRIES] {
    static TABLE: std::sync::OnceLock<[u64; X2N_ENTRIES]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u64; X2N_ENTRIES];
        let mut p = X0 >> 1; // x^1
        for entry in table.iter_mut() {
            *entry = p;
            p = multmodp(p, p);
        }
        table
    })
}

/// The operator that appends `len` zero bytes' worth of shift to a CRC: computed once for a
/// length, applied to as many CRCs as needed (all full-size parts share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrcShift {
    len: u64,
    x_to_8len: u64,
}

impl CrcShift {
    /// The shift for a second operand of `len` bytes.
    pub fn for_len(len: u64) -> Self {
        let table = x2n_table();
        let mut p = X0;
        let mut n = len;
        let mut k = 3; // 8 bits per byte: x^(8·len) = x^(len·2^3)
        while n != 0 {
            if n & 1 != 0 {
                p = multmodp(table[k], p);
            }
            n >>= 1;
            k += 1;
        }
        CrcShift { len, x_to_8len: p }
    }

    /// The byte length this shift is for.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for the shift of zero bytes (the identity).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// CRC of `A || B` from `crc(A)` and `crc(B)`, where `B` has this shift's length.
    pub fn combine(&self, crc_a: u64, crc_b: u64) -> u64 {
        multmodp(self.x_to_8len, crc_a) ^ crc_b
    }
}

/// CRC of `A || B` from `crc(A)`, `crc(B)` and `B`'s length.
pub fn crc64_combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    CrcShift::for_len(len_b).combine(crc_a, crc_b)
}

/// Combines the CRCs of consecutive pieces `(crc, len)` into the CRC of their concatenation,
/// reusing one shift for every piece of the most common length.
pub fn crc64_of_pieces(pieces: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    let mut cached: Option<CrcShift> = None;
    let mut total = 0u64;
    for (crc, len) in pieces {
        let shift = match cached {
            Some(shift) if shift.len() == len => shift,
            _ => {
                let shift = CrcShift::for_len(len);
                cached = Some(shift);
                shift
            }
        };
        total = shift.combine(total, crc);
    }
    total
}

/// MD5 of a buffer (see the module docs for why OpenSSL).
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    openssl::hash::hash(openssl::hash::MessageDigest::md5(), bytes)
        .ok()
        .and_then(|digest| <[u8; 16]>::try_from(&digest[..]).ok())
        .unwrap_or_else(|| md5::Md5::digest(bytes).into())
}

/// Base64 of the MD5 of a buffer: the `Content-MD5` header value.
pub fn content_md5(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc64_check_value() {
        // The catalogue check value of CRC-64/XZ over "123456789".
        assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(b""), 0);
    }

    proptest! {
        #[test]
        fn openssl_md5_equals_the_pure_rust_one(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let pure: [u8; 16] = md5::Md5::digest(&bytes).into();
            prop_assert_eq!(md5(&bytes), pure);
        }
    }

    #[test]
    fn openssl_itself_provides_md5() {
        // The fast path, not the fallback: the proptest above would pass on the fallback alone.
        let digest = openssl::hash::hash(openssl::hash::MessageDigest::md5(), b"abc")
            .expect("the vendored OpenSSL computes MD5");
        assert_eq!(hex::encode(&*digest), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn md5_of_empty_is_the_known_digest() {
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn combine_with_empty_second_is_identity() {
        let a = crc64(b"hello");
        assert_eq!(crc64_combine(a, 0, 0), a);
        assert_eq!(crc64_combine(0, a, 5), a);
    }

    #[test]
    fn pieces_of_equal_length_combine_to_the_whole() {
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 31 % 251) as u8).collect();
        let pieces = data.chunks(1000).map(|c| (crc64(c), c.len() as u64));
        assert_eq!(crc64_of_pieces(pieces), crc64(&data));
    }

    proptest! {
        #[test]
        fn combine_matches_crc_of_concatenation(
            a in proptest::collection::vec(any::<u8>(), 0..600),
            b in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(crc64_combine(crc64(&a), crc64(&b), b.len() as u64), crc64(&whole));
        }
    }
}
