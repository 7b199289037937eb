//! Scans over the byte classes of a request head, with SIMD where the CPU has it: the
//! crate's only `unsafe` code.
//!
//! Why `unsafe` is here, and only here:
//!
//! - `std::arch` loads read through raw pointers, and a function compiled for AVX2 may
//!   be called only once [`is_x86_feature_detected!`] has said the CPU has AVX2.
//! - A scan that has checked every byte of a method, a target or a field name to be
//!   visible ASCII turns those bytes into `&str` with [`str::from_utf8_unchecked`]
//!   instead of validating them a second time (`str::from_utf8` took about 15 % of a
//!   parse). The check and the conversion sit in the same function, so no caller can
//!   hand it unchecked bytes.
//!
//! Each scan has up to three implementations that must agree byte for byte: AVX2
//! (chosen at run time: one 16-byte step first, which settles most values and targets,
//! then 32 bytes a step), SSE2 (16 bytes a step; every x86-64 CPU has it) and a scalar
//! loop over the tables of [`crate::table`] (every target, and the tail of a buffer). [`Path`] names them so that tests can run each one on the same
//! inputs.

use crate::table::{TCHAR, VCHAR, is_field_byte};

/// One implementation of the scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Byte by byte, over the lookup tables.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Scalar,
    /// 16 bytes a step (x86-64 only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Sse2,
    /// 32 bytes a step (x86-64 CPUs with AVX2 only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2(Avx2),
}

/// Proof that the CPU has AVX2: only this module makes one, after detecting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Avx2 {
    /// Private, so that no other module can make a token.
    _detected: (),
}

impl Avx2 {
    /// Returns a token if the CPU has AVX2.
    #[inline]
    fn detect() -> Option<Avx2> {
        #[cfg(target_arch = "x86_64")]
        {
            // std caches the answer after the first call: one load and a test.
            if std::arch::is_x86_feature_detected!("avx2") {
                return Some(Avx2 { _detected: () });
            }
        }
        None
    }
}

impl Path {
    /// Returns the fastest implementation this CPU runs.
    #[inline]
    pub(crate) fn best() -> Path {
        match Avx2::detect() {
            Some(avx2) => Path::Avx2(avx2),
            None if cfg!(target_arch = "x86_64") => Path::Sse2,
            None => Path::Scalar,
        }
    }

    /// Returns every implementation this CPU runs, the scalar one first.
    #[cfg(test)]
    pub(crate) fn all_available() -> Vec<Path> {
        let mut paths = vec![Path::Scalar];
        if cfg!(target_arch = "x86_64") {
            paths.push(Path::Sse2);
        }
        paths.extend(Avx2::detect().map(Path::Avx2));
        paths
    }
}

/// Runs `parse` with the fastest [`Path`] this CPU runs, compiled for that path.
///
/// With AVX2, `parse` runs inside a function compiled for AVX2, so the scans it calls
/// are inlined into it rather than called across a feature boundary once per field.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn with_best_path<R>(parse: impl FnOnce(Path) -> R) -> R {
    match Path::best() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Avx2` token exists only once AVX2 was detected.
        Path::Avx2(avx2) => unsafe { x86::with_avx2(avx2, parse) },
        path => parse(path),
    }
}

/// Splits the run of token characters (`tchar`) at the start of `bytes` off as text;
/// returns it and its length. The run may be empty.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn take_tchars(bytes: &[u8]) -> (&str, usize) {
    let n = tchar_len(bytes);
    let run = bytes.get(..n).unwrap_or_default();
    // SAFETY: `tchar_len` returns the length of a run of bytes that TCHAR admits, and
    // TCHAR admits only ASCII (`classes_are_ascii` in the tests).
    (unsafe { ascii_unchecked(run) }, n)
}

/// Splits a method off the start of `bytes` like [`take_tchars`], with a shortcut for
/// `GET `, the method of most requests.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn take_method(bytes: &[u8]) -> (&str, usize) {
    if let Some(b"GET ") = bytes.first_chunk::<4>() {
        let run = bytes.get(..3).unwrap_or_default();
        // SAFETY: `run` is `GET`, which is ASCII.
        return (unsafe { ascii_unchecked(run) }, 3);
    }
    take_tchars(bytes)
}

/// Splits the run of visible ASCII characters (`VCHAR`, `%x21-7E`) at the start of
/// `bytes` off as text, scanning with `path`; returns it and its length.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn take_vchars(bytes: &[u8], path: Path) -> (&str, usize) {
    let n = vchar_len(bytes, path);
    let run = bytes.get(..n).unwrap_or_default();
    // SAFETY: every implementation of `vchar_len` returns the length of a run of bytes in
    // `%x21-7E` (the tests run each one against the scalar table on every byte value),
    // so the run is ASCII.
    (unsafe { ascii_unchecked(run) }, n)
}

/// Returns the length of the run at the start of `bytes` that may appear in a field
/// value (`field-vchar`, SP, HTAB), scanning with `path`: the offset of the first CR,
/// LF, other control byte or DEL, or `bytes.len()`.
#[inline]
pub(crate) fn field_value_len(bytes: &[u8], path: Path) -> usize {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2(avx2) => x86::field_value_len_avx2(avx2, bytes),
        #[cfg(target_arch = "x86_64")]
        Path::Sse2 => x86::field_value_len_sse2(bytes),
        _ => field_value_len_scalar(bytes),
    }
}

/// Returns the length of the run of `tchar`s at the start of `bytes`.
///
/// Names and methods are short (a dozen bytes), so this stays a table loop on every
/// path, four bytes a step with one branch per step: a vector nibble lookup measured
/// slower on real heads.
#[inline]
fn tchar_len(bytes: &[u8]) -> usize {
    let is = |b: u8| TCHAR[usize::from(b)];
    let mut at = 0;
    for chunk in bytes.chunks_exact(4) {
        if let &[a, b, c, d] = chunk {
            if !(is(a) & is(b) & is(c) & is(d)) {
                break;
            }
        }
        at += 4;
    }
    let rest = bytes.get(at..).unwrap_or_default();
    at + rest.iter().position(|&b| !is(b)).unwrap_or(rest.len())
}

/// Returns the length of the run of `VCHAR`s at the start of `bytes`.
#[inline]
fn vchar_len(bytes: &[u8], path: Path) -> usize {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2(avx2) => x86::vchar_len_avx2(avx2, bytes),
        #[cfg(target_arch = "x86_64")]
        Path::Sse2 => x86::vchar_len_sse2(bytes),
        _ => vchar_len_scalar(bytes),
    }
}

fn vchar_len_scalar(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| !VCHAR[usize::from(b)])
        .unwrap_or(bytes.len())
}

fn field_value_len_scalar(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| !is_field_byte(b))
        .unwrap_or(bytes.len())
}

/// Returns ASCII bytes as text without validating them again.
///
/// # Safety
/// Every byte of `run` must be below 0x80.
#[inline]
#[allow(unsafe_code)]
unsafe fn ascii_unchecked(run: &[u8]) -> &str {
    debug_assert!(run.is_ascii());
    // SAFETY: ASCII is valid UTF-8, and the caller guarantees `run` is ASCII.
    unsafe { std::str::from_utf8_unchecked(run) }
}

/// The x86-64 implementations.
///
/// The vector loops are `#[inline(always)]` functions whose intrinsics run in `unsafe`
/// blocks (an intrinsic may only run on a CPU with its feature): SSE2 is part of every
/// x86-64 CPU, and the AVX2 ones are reached only through an [`Avx2`] token, which
/// [`Path::best`] makes only after detecting AVX2. Inlined into [`with_avx2`], a
/// function compiled for AVX2, the whole parse runs without a call per field.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_and_si128, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8,
        _mm_cmplt_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm256_and_si256, _mm256_andnot_si256, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8,
        _mm256_loadu_si256, _mm256_max_epu8, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    use super::{Avx2, Path, field_value_len_scalar, vchar_len_scalar};

    /// Runs `parse` with [`Path::Avx2`], compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2, which the token proves; this is an `unsafe fn` rather than
    /// a safe `#[target_feature]` function so that the crate builds with Rust 1.85.
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    pub(super) unsafe fn with_avx2<R>(avx2: Avx2, parse: impl FnOnce(Path) -> R) -> R {
        parse(Path::Avx2(avx2))
    }

    /// Loads 16 bytes.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn load16(chunk: &[u8; 16]) -> __m128i {
        // SAFETY: `chunk` holds 16 readable bytes, `loadu` has no alignment requirement,
        // and every x86-64 CPU has SSE2.
        unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) }
    }

    /// Loads 32 bytes.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn load32(_: Avx2, chunk: &[u8; 32]) -> __m256i {
        // SAFETY: `chunk` holds 32 readable bytes, `loadu` has no alignment requirement,
        // and the `Avx2` token proves the CPU has AVX2.
        unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) }
    }

    /// Returns the mask of the bytes of `v` that are not `VCHAR` (`%x21-7E`).
    #[inline(always)]
    #[allow(unsafe_code)]
    fn not_vchar16(v: __m128i) -> u32 {
        // SAFETY: every x86-64 CPU has SSE2.
        let ok = unsafe {
            // Signed compares: 0x80-0xFF are negative, so `> 0x20` rejects them too.
            _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x7F)),
            ))
        };
        !(ok as u32) & 0xFFFF
    }

    /// Returns the mask of the bytes of `v` that may not appear in a field value:
    /// controls other than HTAB, and DEL.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn not_field16(v: __m128i) -> u32 {
        // SAFETY: every x86-64 CPU has SSE2.
        let bad = unsafe {
            // Unsigned `b <= 0x1F`, as `max(b, 0x1F) == 0x1F`.
            let low = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
            let tab = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x09));
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
            _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(tab, low), del))
        };
        bad as u32
    }

    /// Returns the mask of the bytes of `v` that are not `VCHAR`.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn not_vchar32(_: Avx2, v: __m256i) -> u32 {
        // SAFETY: the `Avx2` token proves the CPU has AVX2.
        let ok = unsafe {
            _mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpgt_epi8(v, _mm256_set1_epi8(0x20)),
                _mm256_cmpgt_epi8(_mm256_set1_epi8(0x7F), v),
            ))
        };
        !(ok as u32)
    }

    /// Returns the mask of the bytes of `v` that may not appear in a field value.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn not_field32(_: Avx2, v: __m256i) -> u32 {
        // SAFETY: the `Avx2` token proves the CPU has AVX2.
        let bad = unsafe {
            let low = _mm256_cmpeq_epi8(
                _mm256_max_epu8(v, _mm256_set1_epi8(0x1F)),
                _mm256_set1_epi8(0x1F),
            );
            let tab = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x09));
            let del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F));
            _mm256_movemask_epi8(_mm256_or_si256(_mm256_andnot_si256(tab, low), del))
        };
        bad as u32
    }

    // The four loops below differ only in their mask and tail. Sharing one loop that
    // takes those as function pointers measured 10 % slower on small heads, so they
    // stay written out.

    /// Returns the VCHAR run length, 16 bytes a step.
    #[inline(always)]
    pub(super) fn vchar_len_sse2(bytes: &[u8]) -> usize {
        let mut chunks = bytes.chunks_exact(16);
        let mut at = 0;
        for chunk in &mut chunks {
            let Ok(chunk) = chunk.try_into() else {
                break; // Never: the chunks are exactly 16 bytes.
            };
            let v = load16(chunk);
            let stop = not_vchar16(v);
            if stop != 0 {
                return at + stop.trailing_zeros() as usize;
            }
            at += 16;
        }
        at + vchar_len_scalar(chunks.remainder())
    }

    /// Returns the field-value run length, 16 bytes a step.
    #[inline(always)]
    pub(super) fn field_value_len_sse2(bytes: &[u8]) -> usize {
        let mut chunks = bytes.chunks_exact(16);
        let mut at = 0;
        for chunk in &mut chunks {
            let Ok(chunk) = chunk.try_into() else {
                break; // Never: the chunks are exactly 16 bytes.
            };
            let v = load16(chunk);
            let stop = not_field16(v);
            if stop != 0 {
                return at + stop.trailing_zeros() as usize;
            }
            at += 16;
        }
        at + field_value_len_scalar(chunks.remainder())
    }

    /// Returns the VCHAR run length, 32 bytes a step.
    #[inline(always)]
    pub(super) fn vchar_len_avx2(avx2: Avx2, bytes: &[u8]) -> usize {
        // Most values and targets are short: one 16-byte step settles them.
        let Some(first) = bytes.first_chunk::<16>() else {
            return vchar_len_scalar(bytes);
        };
        let stop = not_vchar16(load16(first));
        if stop != 0 {
            return stop.trailing_zeros() as usize;
        }
        let bytes = bytes.get(16..).unwrap_or_default();
        let mut chunks = bytes.chunks_exact(32);
        let mut at = 16;
        for chunk in &mut chunks {
            let Ok(chunk) = chunk.try_into() else {
                break; // Never: the chunks are exactly 32 bytes.
            };
            let v = load32(avx2, chunk);
            let stop = not_vchar32(avx2, v);
            if stop != 0 {
                return at + stop.trailing_zeros() as usize;
            }
            at += 32;
        }
        at + vchar_len_sse2(chunks.remainder())
    }

    /// Returns the field-value run length, 32 bytes a step.
    #[inline(always)]
    pub(super) fn field_value_len_avx2(avx2: Avx2, bytes: &[u8]) -> usize {
        // Most values and targets are short: one 16-byte step settles them.
        let Some(first) = bytes.first_chunk::<16>() else {
            return field_value_len_scalar(bytes);
        };
        let stop = not_field16(load16(first));
        if stop != 0 {
            return stop.trailing_zeros() as usize;
        }
        let bytes = bytes.get(16..).unwrap_or_default();
        let mut chunks = bytes.chunks_exact(32);
        let mut at = 16;
        for chunk in &mut chunks {
            let Ok(chunk) = chunk.try_into() else {
                break; // Never: the chunks are exactly 32 bytes.
            };
            let v = load32(avx2, chunk);
            let stop = not_field32(avx2, v);
            if stop != 0 {
                return at + stop.trailing_zeros() as usize;
            }
            at += 32;
        }
        at + field_value_len_sse2(chunks.remainder())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes at the edges of the classes; each test keeps those its class refuses.
    const EDGES: &[u8] = &[
        0x00, 0x08, 0x09, 0x0A, 0x0D, 0x1F, 0x20, b'"', b'(', b':', 0x7F, 0x80, 0xC3, 0xFF,
    ];

    /// Inputs of every length from 0 to 79, each with each stop byte at each offset.
    fn inputs(fill: u8, stops: &[u8]) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for len in 0..80 {
            all.push(vec![fill; len]);
            for at in 0..len {
                for &stop in stops {
                    let mut bytes = vec![fill; len];
                    bytes[at] = stop;
                    all.push(bytes);
                }
            }
        }
        all
    }

    #[test]
    fn classes_are_ascii() {
        for class in [&TCHAR, &VCHAR] {
            assert!(class.iter().skip(0x80).all(|&admitted| !admitted));
        }
    }

    #[test]
    fn every_path_finds_the_same_vchar_run() {
        let stops: Vec<u8> = EDGES
            .iter()
            .copied()
            .filter(|&b| !VCHAR[usize::from(b)])
            .collect();
        for bytes in inputs(b'a', &stops) {
            let expected = vchar_len_scalar(&bytes);
            assert_eq!(
                expected,
                bytes
                    .iter()
                    .position(|&b| !(0x21..=0x7E).contains(&b))
                    .unwrap_or(bytes.len())
            );
            for path in Path::all_available() {
                assert_eq!(vchar_len(&bytes, path), expected, "{path:?} {bytes:?}");
                let (text, n) = take_vchars(&bytes, path);
                assert_eq!((text.as_bytes(), n), (&bytes[..expected], expected));
            }
        }
    }

    #[test]
    fn every_path_finds_the_same_field_value_run() {
        let stops: Vec<u8> = EDGES
            .iter()
            .copied()
            .filter(|&b| !is_field_byte(b))
            .collect();
        let fills = [b'a', b' ', b'\t', 0x80, 0xFF, b'~'];
        for fill in fills {
            for bytes in inputs(fill, &stops) {
                let expected = field_value_len_scalar(&bytes);
                let by_rule = bytes
                    .iter()
                    .position(|&b| !(b == b'\t' || (0x20..=0x7E).contains(&b) || b >= 0x80));
                assert_eq!(expected, by_rule.unwrap_or(bytes.len()));
                for path in Path::all_available() {
                    assert_eq!(
                        field_value_len(&bytes, path),
                        expected,
                        "{path:?} {bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_byte_value_is_classified_alike_on_every_path() {
        // Each byte at each position of a 64-byte run, for both scans.
        for b in 0..=255u8 {
            for at in 0..64 {
                let mut bytes = vec![b'x'; 64];
                bytes[at] = b;
                for path in Path::all_available() {
                    assert_eq!(
                        vchar_len(&bytes, path),
                        vchar_len_scalar(&bytes),
                        "{path:?} {b:#04x} at {at}"
                    );
                    assert_eq!(
                        field_value_len(&bytes, path),
                        field_value_len_scalar(&bytes),
                        "{path:?} {b:#04x} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn tchar_runs_stop_at_the_first_other_byte() {
        let stops: Vec<u8> = EDGES
            .iter()
            .copied()
            .filter(|&b| !TCHAR[usize::from(b)])
            .collect();
        for bytes in inputs(b'k', &stops) {
            let expected = bytes
                .iter()
                .position(|&b| !TCHAR[usize::from(b)])
                .unwrap_or(bytes.len());
            let (text, n) = take_tchars(&bytes);
            assert_eq!((text.as_bytes(), n), (&bytes[..expected], expected));
        }
    }

    #[test]
    fn take_method_agrees_with_take_tchars() {
        let cases: &[&[u8]] = &[b"GET / ", b"GET", b"GETX /", b"GET\t", b"POST /", b"", b"G"];
        for &bytes in cases {
            assert_eq!(take_method(bytes), take_tchars(bytes), "{bytes:?}");
        }
        let (get, _) = take_method(b"GET /");
        assert_eq!(get, "GET");
    }

    #[test]
    fn the_best_path_is_available() {
        assert!(Path::all_available().contains(&Path::best()));
    }
}
