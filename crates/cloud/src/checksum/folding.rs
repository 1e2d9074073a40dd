//! CRC-64/XZ by carry-less multiplication folding on 256-bit registers (VPCLMULQDQ + AVX2).
//!
//! Why our own: the CRC is about 30 % of an upload's client CPU (`docs/PERFORMANCE.md`), and
//! neither maintained crate folds on 256-bit registers without AVX-512: `crc64fast` and
//! `crc-fast` both run 128-bit PCLMULQDQ on CPUs such as AMD Zen 3, which have VPCLMULQDQ but no
//! AVX-512. There one VPCLMULQDQ on 256 bits costs what one PCLMULQDQ on 128 bits does, so
//! folding 32 bytes per instruction instead of 16 doubles the rate: `cargo bench --bench
//! checksum -- crc64_engine` measured 17.2–18.4 GiB/s against 9.1–9.9 for `crc64fast` here.
//!
//! The method is the folding of Intel's white paper "Fast CRC Computation for Generic
//! Polynomials Using PCLMULQDQ Instruction" (2009), widened: eight 256-bit accumulators take 256
//! bytes per round; at the end they are folded into one 128-bit value, whose CRC from a zero
//! register equals the CRC of everything folded. That last step and any tail shorter than a
//! round go through a byte-wise table, so no Barrett reduction is needed.
//!
//! The module holds the crate's only `unsafe` outside `source.rs`: unaligned 256-bit loads from
//! a slice, prefetch hints, and the call into the `#[target_feature]` kernel after the CPU was
//! checked.
#![allow(unsafe_code)]

use super::{X0, times_x};

/// Bytes taken per folding round: eight 32-byte accumulators.
const ROUND: usize = 256;
/// What is left after the rounds is folded 16 bytes at a time; only the last < 16 bytes of an
/// update go through the byte-wise table (a table for whole tails made a 200-byte update 8×
/// slower than `crc64fast`).
const BLOCK: usize = 16;

/// `x^n mod P` in the reflected representation (bit 63 is x^0), by `n` multiplications by x.
const fn x_pow_mod_p(n: u32) -> u64 {
    let mut value = X0;
    let mut i = 0;
    while i < n {
        value = times_x(value);
        i += 1;
    }
    value
}

/// The pair of constants that moves 16 bytes forward by `distance` bytes: the high 64 bits of
/// the 16 are multiplied by `x^(8·distance − 1)`, the low 64 by `x^(8·distance + 63)` (the
/// reflected form puts the earlier bytes in the low half).
const fn fold_constants(distance: u32) -> (u64, u64) {
    (
        x_pow_mod_p(8 * distance - 1),
        x_pow_mod_p(8 * distance + 63),
    )
}

/// The reflected byte-wise table for the tails.
const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = times_x(crc);
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// Advances the CRC register over `bytes` one byte at a time.
fn update_bytewise(mut register: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        register = TABLE[((register ^ u64::from(byte)) & 0xff) as usize] ^ (register >> 8);
    }
    register
}

/// True when this CPU can run the folding kernel.
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("vpclmulqdq")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Advances the CRC register (initial value `!0`, final value inverted by the caller) over
/// `bytes`. Callers must have checked [`available`]; without it this falls back to the table.
pub(super) fn update(register: u64, bytes: &[u8]) -> u64 {
    let whole_blocks = bytes.len() / BLOCK * BLOCK;
    let (blocks, tail) = bytes.split_at(whole_blocks);
    let register = if blocks.is_empty() || !available() {
        update_bytewise(register, blocks)
    } else {
        fold_blocks(register, blocks)
    };
    update_bytewise(register, tail)
}

#[cfg(target_arch = "x86_64")]
fn fold_blocks(register: u64, blocks: &[u8]) -> u64 {
    // SAFETY: `update` calls this only after `available()` confirmed AVX2, PCLMULQDQ and
    // VPCLMULQDQ, the features `x86::fold` is compiled for.
    let folded = unsafe { x86::fold(register, blocks) };
    update_bytewise(0, &folded)
}

#[cfg(not(target_arch = "x86_64"))]
fn fold_blocks(register: u64, blocks: &[u8]) -> u64 {
    update_bytewise(register, blocks)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, ROUND, fold_constants};
    use std::arch::x86_64::*;

    /// 32-byte accumulators per round.
    const LANES: usize = ROUND / 32;

    /// Constants that move an accumulator forward by one round.
    const ONE_ROUND: (u64, u64) = fold_constants(ROUND as u32);

    /// Constants that move accumulator `lane` forward onto the last one (`(LANES - 1 - lane)`
    /// accumulators of 32 bytes). Computed at compile time: `x_pow_mod_p` is a slow loop.
    const ONTO_LAST: [(u64, u64); LANES - 1] = {
        let mut constants = [(0, 0); LANES - 1];
        let mut lane = 0;
        while lane < LANES - 1 {
            constants[lane] = fold_constants(((LANES - 1 - lane) * 32) as u32);
            lane += 1;
        }
        constants
    };

    /// Constants that move 16 bytes forward by 16.
    const SIXTEEN: (u64, u64) = fold_constants(16);

    /// The constants of [`SIXTEEN`] in a 128-bit register.
    #[target_feature(enable = "sse2")]
    fn sixteen() -> __m128i {
        _mm_set_epi64x(SIXTEEN.0 as i64, SIXTEEN.1 as i64)
    }

    /// Both 128-bit halves of a 256-bit register set to `(high, low)`.
    #[target_feature(enable = "avx2")]
    fn broadcast((high, low): (u64, u64)) -> __m256i {
        _mm256_set_epi64x(high as i64, low as i64, high as i64, low as i64)
    }

    /// Moves each 16-byte half of `value` forward by the distance `constants` were made for.
    #[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
    fn fold_forward(value: __m256i, constants: __m256i) -> __m256i {
        _mm256_xor_si256(
            _mm256_clmulepi64_epi128(value, constants, 0x00),
            _mm256_clmulepi64_epi128(value, constants, 0x11),
        )
    }

    /// How far ahead of the fold the next bytes are requested from memory. A part's bytes are
    /// usually read here for the first time, from page-cache pages in DRAM, and the hardware
    /// prefetchers stop at each 4 KiB page boundary: asking one page ahead lifted the rate on
    /// such memory from 14.5–15.3 to 18.8–19.1 GiB/s here (512 bytes: slower; 2 KiB: 18.2–18.9).
    const PREFETCH_AHEAD: usize = 4096;

    /// Asks for the 256 bytes at `bytes[offset..]` to be brought into the cache. A hint: it never
    /// faults and reads nothing architecturally, so an offset past the end is harmless.
    #[target_feature(enable = "avx2")]
    fn prefetch_round(bytes: &[u8], offset: usize) {
        let start = bytes.as_ptr().wrapping_add(offset);
        for line in (0..ROUND).step_by(64) {
            // SAFETY: a prefetch is only a hint to the cache; it does not dereference the pointer
            // (the address may be past the slice or unmapped without effect). Newer Rust
            // declares the intrinsic safe; our MSRV still needs the block.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line).cast())
            };
        }
    }

    /// 32 bytes from `bytes[offset..offset + 32]`.
    #[target_feature(enable = "avx2")]
    fn load(bytes: &[u8], offset: usize) -> __m256i {
        let block = &bytes[offset..offset + 32];
        // SAFETY: `block` is exactly 32 readable bytes (the slice above is bounds-checked) and
        // `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_si256(block.as_ptr().cast()) }
    }

    /// Folds `blocks` (a non-empty multiple of 16 bytes), with the CRC register applied, down to
    /// 16 bytes whose CRC from a zero register is the register after `blocks`: whole 256-byte
    /// rounds on eight 256-bit accumulators, then the remaining 16-byte blocks one by one.
    #[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
    pub(super) fn fold(register: u64, blocks: &[u8]) -> [u8; 16] {
        debug_assert!(!blocks.is_empty() && blocks.len().is_multiple_of(BLOCK));
        // The register enters as an XOR over the first eight bytes of the message.
        let register = register as i64;
        let whole_rounds = blocks.len() / ROUND * ROUND;
        let (mut folded, rest) = if whole_rounds > 0 {
            let (rounds, rest) = blocks.split_at(whole_rounds);
            (fold_rounds(register, rounds), rest)
        } else {
            let first = _mm_xor_si128(load_block(blocks, 0), _mm_set_epi64x(0, register));
            (first, &blocks[BLOCK..])
        };
        let sixteen = sixteen();
        for offset in (0..rest.len()).step_by(BLOCK) {
            folded = _mm_xor_si128(load_block(rest, offset), fold_block(folded, sixteen));
        }
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&(_mm_cvtsi128_si64(folded) as u64).to_le_bytes());
        out[8..].copy_from_slice(&(_mm_extract_epi64(folded, 1) as u64).to_le_bytes());
        out
    }

    /// Folds whole 256-byte `rounds` (non-empty) down to one 128-bit value.
    #[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
    fn fold_rounds(register: i64, rounds: &[u8]) -> __m128i {
        let mut acc: [__m256i; LANES] = std::array::from_fn(|lane| load(rounds, lane * 32));
        acc[0] = _mm256_xor_si256(acc[0], _mm256_set_epi64x(0, 0, 0, register));

        let one_round = broadcast(ONE_ROUND);
        for offset in (ROUND..rounds.len()).step_by(ROUND) {
            prefetch_round(rounds, offset + PREFETCH_AHEAD);
            for (lane, value) in acc.iter_mut().enumerate() {
                *value = _mm256_xor_si256(
                    load(rounds, offset + lane * 32),
                    fold_forward(*value, one_round),
                );
            }
        }

        // Fold the accumulators into the last one, each by its distance from it...
        let mut last = acc[LANES - 1];
        for (value, constants) in acc.iter().zip(ONTO_LAST) {
            last = _mm256_xor_si256(last, fold_forward(*value, broadcast(constants)));
        }
        // ...then its lower 16 bytes into its upper 16.
        let lower = _mm256_castsi256_si128(last);
        let upper = _mm256_extracti128_si256(last, 1);
        _mm_xor_si128(upper, fold_block(lower, sixteen()))
    }

    /// Moves 16 bytes forward by the distance `constants` were made for.
    #[target_feature(enable = "pclmulqdq")]
    fn fold_block(value: __m128i, constants: __m128i) -> __m128i {
        _mm_xor_si128(
            _mm_clmulepi64_si128(value, constants, 0x00),
            _mm_clmulepi64_si128(value, constants, 0x11),
        )
    }

    /// 16 bytes from `bytes[offset..offset + 16]`.
    #[target_feature(enable = "sse2")]
    fn load_block(bytes: &[u8], offset: usize) -> __m128i {
        let block = &bytes[offset..offset + BLOCK];
        // SAFETY: `block` is exactly 16 readable bytes (the slice above is bounds-checked) and
        // `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn crc_of(bytes: &[u8]) -> u64 {
        !update(!0, bytes)
    }

    #[test]
    fn constants_match_the_published_ones() {
        // Intel's white paper constants for CRC-64/XZ as printed in crc64fast's table (k_127,
        // k_191 for 16 bytes; k_1023, k_1087 for 128 bytes), bit-reflected.
        assert_eq!(
            fold_constants(16),
            (0xdabe_95af_c787_5f40, 0xe05d_d497_ca39_3ae4)
        );
        assert_eq!(
            fold_constants(128),
            (0xd7d8_6b2a_f73d_e740, 0x8757_d71d_4fcc_1000)
        );
    }

    #[test]
    fn check_value_and_round_sized_inputs() {
        assert_eq!(crc_of(b"123456789"), 0x995D_C9BB_DF19_39FA);
        for len in [
            0,
            15,
            16,
            17,
            31,
            32,
            200,
            255,
            256,
            257,
            272,
            511,
            512,
            4096,
            256 * 1024 + 17,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
            let mut reference = crc64fast::Digest::new();
            reference.write(&data);
            assert_eq!(crc_of(&data), reference.sum64(), "length {len}");
        }
    }

    proptest! {
        #[test]
        fn equals_crc64fast_over_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            split in 0usize..3000,
        ) {
            let split = split.min(data.len());
            let register = update(update(!0, &data[..split]), &data[split..]);
            let mut reference = crc64fast::Digest::new();
            reference.write(&data);
            prop_assert_eq!(!register, reference.sum64());
        }
    }
}
