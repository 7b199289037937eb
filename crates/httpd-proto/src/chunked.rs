//! The chunked transfer coding (RFC 9112 section 7.1), decoding and encoding.
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! chunk-ext-name = token
//! chunk-ext-val  = token / quoted-string
//! quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
//! qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
//! quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! Extensions are checked against this grammar and then ignored; the whole size line,
//! extensions included, is bounded by [`MAX_CHUNK_LINE_BYTES`].
//!
//! [`ChunkedDecoder`] is a byte-level state machine, so input may arrive split
//! anywhere. It buffers nothing: the state holds a few counters, each capped by
//! [`MAX_CHUNK_SIZE_DIGITS`], [`MAX_CHUNK_LINE_BYTES`] or [`MAX_TRAILER_BYTES`].
//! The payload's total size is the caller's to bound.

use std::fmt;

use crate::table::{is_field_byte, is_tchar, is_vchar};

/// The most hex digits a chunk size may have, leading zeros included.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 32;

/// The most bytes a chunk-size line may hold before its CRLF, extensions included.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// The most bytes the trailer section may hold, its CRLFs included.
pub const MAX_TRAILER_BYTES: usize = 8192;

/// Why a chunked body was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The size line holds a byte that is not a hex digit where one is required.
    BadDigit,
    /// The size does not fit in 64 bits.
    TooLarge,
    /// A chunk line ends in a bare LF or holds a bare CR.
    BadLineEnding,
    /// Chunk data is not followed by CRLF.
    MissingCrlf,
    /// A size line or trailer line is longer than the decoder allows.
    LineTooLong,
    /// A trailer field is malformed.
    BadTrailer,
    /// A chunk extension does not follow the grammar: a `;` without a name, a name that
    /// is not a token, an empty or malformed value, an unclosed quoted string, a control
    /// byte, or whitespace before the line's CRLF.
    BadExtension,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadDigit => "invalid byte in chunk size",
            ChunkError::TooLarge => "chunk size overflows u64",
            ChunkError::BadLineEnding => "bare cr or lf in chunk framing",
            ChunkError::MissingCrlf => "chunk data not followed by crlf",
            ChunkError::LineTooLong => "chunk line too long",
            ChunkError::BadTrailer => "invalid trailer field",
            ChunkError::BadExtension => "invalid chunk extension",
        })
    }
}

impl std::error::Error for ChunkError {}

/// Incremental decoder for the chunked transfer coding (RFC 9112 section 7.1).
///
/// Chunk extensions are checked against the RFC 9112 grammar and skipped; trailer
/// fields are checked like header fields and dropped. The decoder never panics and never
/// allocates except to append payload to the caller's `out`.
///
/// # Examples
///
/// ```
/// use httpd_proto::ChunkedDecoder;
///
/// let mut decoder = ChunkedDecoder::default();
/// let mut body = Vec::new();
/// let input = b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
/// let used = decoder.decode(input, &mut body)?;
/// assert_eq!(body, b"hello");
/// assert!(decoder.is_done());
/// assert_eq!(&input[used..], b"GET / HTTP/1.1\r\n");
/// # Ok::<(), httpd_proto::ChunkError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
}

impl ChunkedDecoder {
    /// Decodes as much of `input` as possible, appending payload bytes to `out`.
    /// Returns how many input bytes were consumed; stops after the last chunk and its
    /// trailers, leaving any further bytes (a pipelined request) unconsumed.
    ///
    /// All of `input` is consumed unless the body ends inside it: bytes of an
    /// unfinished line are remembered in the decoder's state, not re-read.
    ///
    /// # Errors
    /// Any [`ChunkError`]; the decoder is then unusable.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|rest| !rest.is_empty()) {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data { remaining } => {
                    // If `remaining` does not fit in usize it exceeds `rest.len()`, so
                    // `take <= remaining` either way and the subtraction cannot wrap.
                    let take = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    out.extend_from_slice(rest.get(..take).unwrap_or_default());
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                }
                state => match rest.first().map(|&b| step(state, b)) {
                    Some(Ok(next)) => {
                        self.state = next;
                        pos += 1;
                    }
                    Some(Err(e)) => {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    None => break,
                },
            }
        }
        match self.state {
            State::Failed(e) => Err(e),
            _ => Ok(pos),
        }
    }

    /// Tells whether the last chunk and the trailer section have been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

/// The last chunk and an empty trailer section, ending a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` as one chunk (size line, data, CRLF) to `out`; empty `data` appends nothing.
///
/// The size is written in uppercase hex without leading zeros. Empty `data` would
/// otherwise encode the last chunk; end a body with [`LAST_CHUNK`] instead.
///
/// # Examples
///
/// ```
/// use httpd_proto::{encode_chunk, LAST_CHUNK};
///
/// let mut out = Vec::new();
/// encode_chunk(b"hello, world", &mut out);
/// out.extend_from_slice(LAST_CHUNK);
/// assert_eq!(out, b"C\r\nhello, world\r\n0\r\n\r\n");
/// ```
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let len = data.len();
    // Enough room for the size of any slice: usize has at most 64 bits.
    let mut digits = [0u8; 16];
    let mut n_digits = 0;
    let mut rest = len;
    while rest > 0 && n_digits < digits.len() {
        digits[n_digits] = HEX[rest & 0xF];
        n_digits += 1;
        rest >>= 4;
    }
    out.reserve(n_digits + 2 + len + 2);
    out.extend(digits.iter().take(n_digits).rev());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Where the decoder is in the chunked grammar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// In the hex digits of a chunk size.
    #[default]
    SizeStart,
    /// In the hex digits of a chunk size, after at least one.
    Size { size: u64, n_digits: usize },
    /// After whitespace that followed the size: only more of it or `;` may come.
    SizeSpace { size: u64, line_len: usize },
    /// Inside the chunk extensions, at `at`.
    Extension {
        size: u64,
        line_len: usize,
        at: ExtAt,
    },
    /// After the CR ending a size line.
    SizeLf { size: u64 },
    /// In chunk data; `remaining` is never 0.
    Data { remaining: u64 },
    /// After chunk data, expecting its CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer line or the final CRLF.
    TrailerStart { n_bytes: usize },
    /// In a trailer field name.
    TrailerName { n_bytes: usize },
    /// In a trailer field value.
    TrailerValue { n_bytes: usize },
    /// After the CR ending a trailer line.
    TrailerLf { n_bytes: usize },
    /// After the CR of the final CRLF.
    EndLf { n_bytes: usize },
    /// The body is complete.
    Done,
    /// The body was rejected; every later call repeats the error.
    Failed(ChunkError),
}

/// Where the decoder is inside the chunk extensions of a size line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExtAt {
    /// After `;` and any whitespace: a name must start.
    NameStart,
    /// In a name.
    Name,
    /// After a name and whitespace: `=`, `;` or more whitespace may come.
    AfterName,
    /// After `=` and any whitespace: a value must start.
    ValueStart,
    /// In a token value.
    Token,
    /// In a quoted-string value.
    Quoted,
    /// After a backslash in a quoted string.
    QuotedPair,
    /// Just after a closing quote: `;`, whitespace or the line's CR may come.
    QuotedEnd,
    /// After a value and whitespace: only `;` or more whitespace may come.
    AfterValue,
}

/// Advances the line-level states by one byte. Never called in `Data`, `Done` or `Failed`.
fn step(state: State, b: u8) -> Result<State, ChunkError> {
    match state {
        State::SizeStart => match hex_value(b) {
            Some(v) => Ok(State::Size {
                size: u64::from(v),
                n_digits: 1,
            }),
            None => Err(ChunkError::BadDigit),
        },
        State::Size { size, n_digits } => {
            if let Some(v) = hex_value(b) {
                if n_digits >= MAX_CHUNK_SIZE_DIGITS {
                    return Err(ChunkError::LineTooLong);
                }
                if size > u64::MAX >> 4 {
                    return Err(ChunkError::TooLarge);
                }
                return Ok(State::Size {
                    size: size << 4 | u64::from(v),
                    n_digits: n_digits + 1,
                });
            }
            let line_len = n_digits + 1;
            match b {
                b';' => Ok(extension(size, line_len, ExtAt::NameStart)),
                b' ' | b'\t' => Ok(State::SizeSpace { size, line_len }),
                b'\r' => Ok(State::SizeLf { size }),
                b'\n' => Err(ChunkError::BadLineEnding),
                _ => Err(ChunkError::BadDigit),
            }
        }
        State::SizeSpace { size, line_len } => {
            let line_len = count_line_byte(line_len)?;
            match b {
                b';' => Ok(extension(size, line_len, ExtAt::NameStart)),
                b' ' | b'\t' => Ok(State::SizeSpace { size, line_len }),
                b'\n' => Err(ChunkError::BadLineEnding),
                // Whitespace may only come before an extension (`BWS ";"`): `5 5` or `5 \r\n`.
                _ => Err(ChunkError::BadDigit),
            }
        }
        State::Extension { size, line_len, at } => {
            if b == b'\n' {
                return Err(ChunkError::BadLineEnding);
            }
            match extension_step(at, b) {
                // The CR ending the line is not part of its length.
                Some(None) => Ok(State::SizeLf { size }),
                Some(Some(at)) => Ok(extension(size, count_line_byte(line_len)?, at)),
                None => {
                    count_line_byte(line_len)?;
                    Err(ChunkError::BadExtension)
                }
            }
        }
        State::SizeLf { size } => match (b, size) {
            (b'\n', 0) => Ok(State::TrailerStart { n_bytes: 0 }),
            (b'\n', remaining) => Ok(State::Data { remaining }),
            _ => Err(ChunkError::BadLineEnding),
        },
        State::DataCr => match b {
            b'\r' => Ok(State::DataLf),
            _ => Err(ChunkError::MissingCrlf),
        },
        State::DataLf => match b {
            b'\n' => Ok(State::SizeStart),
            _ => Err(ChunkError::MissingCrlf),
        },
        State::TrailerStart { n_bytes } => {
            let n_bytes = count_trailer_byte(n_bytes)?;
            match b {
                b'\r' => Ok(State::EndLf { n_bytes }),
                b'\n' => Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => Ok(State::TrailerName { n_bytes }),
                // Includes SP and HTAB: obsolete line folding.
                _ => Err(ChunkError::BadTrailer),
            }
        }
        State::TrailerName { n_bytes } => {
            let n_bytes = count_trailer_byte(n_bytes)?;
            match b {
                b':' => Ok(State::TrailerValue { n_bytes }),
                b'\n' => Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => Ok(State::TrailerName { n_bytes }),
                _ => Err(ChunkError::BadTrailer),
            }
        }
        State::TrailerValue { n_bytes } => {
            let n_bytes = count_trailer_byte(n_bytes)?;
            match b {
                b'\r' => Ok(State::TrailerLf { n_bytes }),
                b'\n' => Err(ChunkError::BadLineEnding),
                _ if is_field_byte(b) => Ok(State::TrailerValue { n_bytes }),
                _ => Err(ChunkError::BadTrailer),
            }
        }
        State::TrailerLf { n_bytes } => {
            let n_bytes = count_trailer_byte(n_bytes)?;
            match b {
                b'\n' => Ok(State::TrailerStart { n_bytes }),
                _ => Err(ChunkError::BadLineEnding),
            }
        }
        State::EndLf { n_bytes } => {
            count_trailer_byte(n_bytes)?;
            match b {
                b'\n' => Ok(State::Done),
                _ => Err(ChunkError::BadLineEnding),
            }
        }
        State::Data { .. } | State::Done | State::Failed(_) => Ok(state),
    }
}

/// The state inside the extensions of a size line.
fn extension(size: u64, line_len: usize, at: ExtAt) -> State {
    State::Extension { size, line_len, at }
}

/// Advances through the chunk-ext grammar by one byte other than LF: `Some(Some(at))`
/// to go on, `Some(None)` for the CR that ends the line, `None` for a malformed
/// extension.
fn extension_step(at: ExtAt, b: u8) -> Option<Option<ExtAt>> {
    let is_ws = b == b' ' || b == b'\t';
    let next = match at {
        ExtAt::NameStart if is_ws => ExtAt::NameStart,
        ExtAt::NameStart if is_tchar(b) => ExtAt::Name,
        ExtAt::Name | ExtAt::Token if is_tchar(b) => at,
        ExtAt::Name | ExtAt::AfterName if b == b'=' => ExtAt::ValueStart,
        ExtAt::Name if is_ws => ExtAt::AfterName,
        ExtAt::AfterName if is_ws => ExtAt::AfterName,
        ExtAt::ValueStart if is_ws => ExtAt::ValueStart,
        ExtAt::ValueStart if is_tchar(b) => ExtAt::Token,
        ExtAt::ValueStart if b == b'"' => ExtAt::Quoted,
        ExtAt::Quoted if b == b'"' => ExtAt::QuotedEnd,
        ExtAt::Quoted if b == b'\\' => ExtAt::QuotedPair,
        ExtAt::Quoted if is_qdtext(b) => ExtAt::Quoted,
        ExtAt::QuotedPair if is_ws || is_vchar(b) || b >= 0x80 => ExtAt::Quoted,
        ExtAt::Token | ExtAt::QuotedEnd | ExtAt::AfterValue if is_ws => ExtAt::AfterValue,
        // A `;` may follow a name or a value, after whitespace too, and starts the next.
        ExtAt::Name | ExtAt::AfterName | ExtAt::Token | ExtAt::QuotedEnd | ExtAt::AfterValue
            if b == b';' =>
        {
            ExtAt::NameStart
        }
        // The line may end right after a name or a value, but not after whitespace:
        // the grammar has no BWS before CRLF.
        ExtAt::Name | ExtAt::Token | ExtAt::QuotedEnd if b == b'\r' => return Some(None),
        _ => return None,
    };
    Some(Some(next))
}

/// Tells whether `b` may appear unescaped in a quoted string (`qdtext`).
fn is_qdtext(b: u8) -> bool {
    b == b'\t'
        || b == b' '
        || b == 0x21
        || (0x23..=0x5B).contains(&b)
        || (0x5D..=0x7E).contains(&b)
        || b >= 0x80
}

/// Counts one more byte of a size line.
fn count_line_byte(line_len: usize) -> Result<usize, ChunkError> {
    let line_len = line_len + 1;
    if line_len > MAX_CHUNK_LINE_BYTES {
        Err(ChunkError::LineTooLong)
    } else {
        Ok(line_len)
    }
}

/// Counts one more byte of the trailer section (the final CRLF's CR included).
fn count_trailer_byte(n_bytes: usize) -> Result<usize, ChunkError> {
    let n_bytes = n_bytes + 1;
    if n_bytes > MAX_TRAILER_BYTES {
        Err(ChunkError::LineTooLong)
    } else {
        Ok(n_bytes)
    }
}

/// Returns the value of a hex digit (`HEXDIG`, either case).
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes, the way a server would.
    /// Returns the payload, the bytes left over and whether the decoder finished.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            let used = decoder.decode(&buf, &mut out)?;
            buf.drain(..used);
        }
        Ok((out, buf, decoder.is_done()))
    }

    /// Decodes `input` split at pseudo-random points drawn from `seed`.
    fn decode_in_random_splits(
        input: &[u8],
        seed: u64,
    ) -> Result<(Vec<u8>, Vec<u8>, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut state = seed;
        let mut pos = 0;
        while pos < input.len() {
            // A linear congruential generator is random enough to pick cut points.
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 1 + (state >> 33) as usize % 7;
            let end = (pos + len).min(input.len());
            buf.extend_from_slice(&input[pos..end]);
            pos = end;
            let used = decoder.decode(&buf, &mut out)?;
            buf.drain(..used);
        }
        Ok((out, buf, decoder.is_done()))
    }

    const VALID: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"00005\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"5;name\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),
        (b"5 ;a=\"q d\";b\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\t; a = b\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5 ; a ; b = \"x\" ;c\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"\x80\xff \t;=,\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"\\\t\\\x80\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (
            b"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n",
            b"hello",
        ),
        (b"5;a=\"\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"3\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r"),
        (b"1\r\n\0\r\n0\r\n\r\n", b"\0"),
        (b"0\r\nExpires: never\r\n\r\n", b""),
        (b"2\r\nab\r\n0\r\nA: 1\r\nB-2:\r\nC: x \t y\r\n\r\n", b"ab"),
    ];

    #[test]
    fn decodes_valid_bodies_whole() {
        for &(input, payload) in VALID {
            let mut decoder = ChunkedDecoder::default();
            let mut out = Vec::new();
            assert_eq!(
                decoder.decode(input, &mut out),
                Ok(input.len()),
                "{input:?}"
            );
            assert_eq!(out, payload, "{input:?}");
            assert!(decoder.is_done(), "{input:?}");
        }
    }

    #[test]
    fn decodes_valid_bodies_byte_by_byte() {
        for &(input, payload) in VALID {
            let mut decoder = ChunkedDecoder::default();
            let mut out = Vec::new();
            for (i, byte) in input.iter().enumerate() {
                assert!(!decoder.is_done(), "{input:?} done early at {i}");
                assert_eq!(decoder.decode(std::slice::from_ref(byte), &mut out), Ok(1));
            }
            assert!(decoder.is_done(), "{input:?}");
            assert_eq!(out, payload, "{input:?}");
        }
    }

    #[test]
    fn every_split_gives_the_same_payload() {
        for &(input, payload) in VALID {
            let mut with_tail = input.to_vec();
            with_tail.extend_from_slice(b"GET /next");
            for step in 1..=with_tail.len() {
                let (out, left, done) = decode_in_steps(&with_tail, step).unwrap();
                assert_eq!(out, payload, "{input:?} step {step}");
                assert_eq!(left, b"GET /next", "{input:?} step {step}");
                assert!(done);
            }
            for seed in 0..32 {
                let (out, left, done) = decode_in_random_splits(&with_tail, seed).unwrap();
                assert_eq!(out, payload, "{input:?} seed {seed}");
                assert_eq!(left, b"GET /next", "{input:?} seed {seed}");
                assert!(done);
            }
        }
    }

    #[test]
    fn every_proper_prefix_is_unfinished_but_fine() {
        for &(input, _) in VALID {
            for end in 0..input.len() {
                let mut decoder = ChunkedDecoder::default();
                let mut out = Vec::new();
                assert_eq!(
                    decoder.decode(&input[..end], &mut out),
                    Ok(end),
                    "{input:?}"
                );
                assert!(!decoder.is_done(), "{input:?} done after {end} bytes");
            }
        }
    }

    const MALFORMED: &[(&[u8], ChunkError)] = &[
        (b"\r\n", ChunkError::BadDigit),
        (b";ext\r\n", ChunkError::BadDigit),
        (b"+5\r\nhello\r\n", ChunkError::BadDigit),
        (b"-1\r\n", ChunkError::BadDigit),
        (b"0x5\r\nhello\r\n", ChunkError::BadDigit),
        (b"0_2e\r\n", ChunkError::BadDigit),
        (b"5 5\r\nhello\r\n", ChunkError::BadDigit),
        (b"5 \r\nhello\r\n", ChunkError::BadDigit),
        (b" 5\r\nhello\r\n", ChunkError::BadDigit),
        (b"g\r\n", ChunkError::BadDigit),
        (b"5\r\nhello\r\n\r\n", ChunkError::BadDigit),
        (b"10000000000000000\r\n", ChunkError::TooLarge),
        (b"FFFFFFFFFFFFFFFFF\r\n", ChunkError::TooLarge),
        (
            b"000000000000000000000000000000001\r\nx\r\n",
            ChunkError::LineTooLong,
        ),
        (b"5\nhello\r\n", ChunkError::BadLineEnding),
        (b"5\rhello\r\n", ChunkError::BadLineEnding),
        (b"5;a\nhello\r\n", ChunkError::BadLineEnding),
        (b"5 \n", ChunkError::BadLineEnding),
        (b"\n", ChunkError::BadDigit),
        (b"0\r\n\n", ChunkError::BadLineEnding),
        (b"0\r\n\rX", ChunkError::BadLineEnding),
        (b"0\r\nA: b\n\r\n", ChunkError::BadLineEnding),
        (b"0\r\nA: b\rX\r\n", ChunkError::BadLineEnding),
        (b"0\r\nA\n", ChunkError::BadLineEnding),
        (b"5\r\nhelloX\r\n", ChunkError::MissingCrlf),
        (b"5\r\nhello\n0\r\n\r\n", ChunkError::MissingCrlf),
        (b"5\r\nhello\rX", ChunkError::MissingCrlf),
        (b"3\r\nhello\r\n", ChunkError::MissingCrlf),
        (b"0\r\n A: b\r\n\r\n", ChunkError::BadTrailer),
        (b"0\r\n: b\r\n\r\n", ChunkError::BadTrailer),
        (b"0\r\nA b: c\r\n\r\n", ChunkError::BadTrailer),
        (b"0\r\nA\r\n\r\n", ChunkError::BadTrailer),
        (b"0\r\nA: b\x00c\r\n\r\n", ChunkError::BadTrailer),
        (b"0\r\nA: b\x7fc\r\n\r\n", ChunkError::BadTrailer),
        (b"5;a\x00\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\x7f\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;\x1b[31m\r\nhello\r\n", ChunkError::BadExtension),
        // Extension grammar: `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`.
        (b"5;\r\nhello\r\n", ChunkError::BadExtension),
        (b"5 ;\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a;\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;;a\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;=x\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a b\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a(b)\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a==b\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=@\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=b c\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a \r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=b\t\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"x\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"x\"y\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"x\" \r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"\x01\"\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"\\\x01\"\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"\x7f\"\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;\xc3\xa9\r\nhello\r\n", ChunkError::BadExtension),
        (b"5;a=\"x\n", ChunkError::BadLineEnding),
    ];

    #[test]
    fn malformed_corpus_fails_with_the_expected_error() {
        for &(input, expected) in MALFORMED {
            let mut decoder = ChunkedDecoder::default();
            let mut out = Vec::new();
            assert_eq!(decoder.decode(input, &mut out), Err(expected), "{input:?}");
            assert!(!decoder.is_done());
        }
    }

    #[test]
    fn malformed_corpus_fails_the_same_way_in_any_split() {
        for &(input, expected) in MALFORMED {
            for step in 1..=input.len() {
                assert_eq!(
                    decode_in_steps(input, step),
                    Err(expected),
                    "{input:?} step {step}"
                );
            }
            for seed in 0..8 {
                assert_eq!(
                    decode_in_random_splits(input, seed),
                    Err(expected),
                    "{input:?}"
                );
            }
        }
    }

    #[test]
    fn malformed_corpus_covers_every_error() {
        let all = [
            ChunkError::BadDigit,
            ChunkError::TooLarge,
            ChunkError::BadLineEnding,
            ChunkError::MissingCrlf,
            ChunkError::LineTooLong,
            ChunkError::BadTrailer,
            ChunkError::BadExtension,
        ];
        for error in all {
            let covered = MALFORMED.iter().any(|&(_, e)| e == error);
            assert!(covered, "{error:?} is not in the corpus");
        }
    }

    #[test]
    fn mutated_bodies_decode_the_same_in_any_split() {
        let interesting = [b'\r', b'\n', b' ', b';', b'0', b'f', b'g', b':', 0, 0xff];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        for &(input, _) in VALID {
            for _ in 0..40 {
                let mut mutated = input.to_vec();
                let at = next() % mutated.len();
                let byte = interesting[next() % interesting.len()];
                if next() % 2 == 0 {
                    mutated[at] = byte;
                } else {
                    mutated.insert(at, byte);
                }
                let whole = decode_in_steps(&mutated, mutated.len());
                for step in [1, 2, 3, 5] {
                    assert_eq!(
                        decode_in_steps(&mutated, step),
                        whole,
                        "{:?} step {step}",
                        mutated.escape_ascii().to_string()
                    );
                }
            }
        }
    }

    #[test]
    fn accepts_the_largest_chunk_size() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let input = b"FFFFFFFFFFFFFFFF\r\nabc";
        assert_eq!(decoder.decode(input, &mut out), Ok(input.len()));
        assert_eq!(out, b"abc");
        assert!(!decoder.is_done());
    }

    #[test]
    fn leading_zeros_do_not_count_towards_overflow() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let input = b"0000000000000000000000000000003\r\nabc\r\n0\r\n\r\n";
        assert_eq!(decoder.decode(input, &mut out), Ok(input.len()));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn too_many_size_digits_is_line_too_long() {
        let mut input = vec![b'0'; MAX_CHUNK_SIZE_DIGITS];
        input.extend_from_slice(b"1\r\nx\r\n");
        let mut out = Vec::new();
        let result = ChunkedDecoder::default().decode(&input, &mut out);
        assert_eq!(result, Err(ChunkError::LineTooLong));

        let mut input = vec![b'0'; MAX_CHUNK_SIZE_DIGITS - 1];
        input.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.decode(&input, &mut out), Ok(input.len()));
        assert_eq!(out, b"x");
    }

    #[test]
    fn long_extensions_are_line_too_long() {
        let mut ok = b"1;".to_vec();
        ok.resize(MAX_CHUNK_LINE_BYTES, b'x');
        ok.extend_from_slice(b"\r\nZ\r\n0\r\n\r\n");
        let mut out = Vec::new();
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.decode(&ok, &mut out), Ok(ok.len()));
        assert_eq!(out, b"Z");

        let mut too_long = b"1;".to_vec();
        too_long.resize(MAX_CHUNK_LINE_BYTES + 1, b'x');
        too_long.extend_from_slice(b"\r\nZ\r\n0\r\n\r\n");
        let result = ChunkedDecoder::default().decode(&too_long, &mut out);
        assert_eq!(result, Err(ChunkError::LineTooLong));

        // Every part of an extension counts: names, values, quoted strings, whitespace.
        for prefix in [&b"1;a=\""[..], b"1;a=", b"1; a = \"\\", b"1;a;b;c;d"] {
            let mut ok = prefix.to_vec();
            let fill = if prefix.ends_with(b"\\") { b'\\' } else { b'x' };
            while ok.len() < MAX_CHUNK_LINE_BYTES - 1 {
                ok.push(fill);
                if fill == b'\\' {
                    ok.push(b'x');
                }
            }
            ok.truncate(MAX_CHUNK_LINE_BYTES - 1);
            ok.push(if prefix.contains(&b'"') { b'"' } else { b'z' });
            let mut too_long = ok.clone();
            too_long.insert(prefix.len(), b'x');
            ok.extend_from_slice(b"\r\nZ\r\n0\r\n\r\n");
            too_long.extend_from_slice(b"\r\nZ\r\n0\r\n\r\n");
            let mut out = Vec::new();
            let shown = ok.escape_ascii().to_string();
            assert_eq!(
                ChunkedDecoder::default().decode(&ok, &mut out),
                Ok(ok.len()),
                "{shown}"
            );
            let result = ChunkedDecoder::default().decode(&too_long, &mut out);
            assert_eq!(result, Err(ChunkError::LineTooLong), "{shown}");
        }

        let mut spaces = b"1".to_vec();
        spaces.resize(MAX_CHUNK_LINE_BYTES + 1, b' ');
        let result = ChunkedDecoder::default().decode(&spaces, &mut out);
        assert_eq!(result, Err(ChunkError::LineTooLong));
    }

    #[test]
    fn long_trailer_section_is_line_too_long() {
        // Exactly MAX_TRAILER_BYTES including the final CRLF passes.
        let mut ok = b"0\r\nX: ".to_vec();
        ok.resize(3 + MAX_TRAILER_BYTES - 4, b'v');
        ok.extend_from_slice(b"\r\n\r\n");
        let mut out = Vec::new();
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.decode(&ok, &mut out), Ok(ok.len()));
        assert!(decoder.is_done());

        let mut too_long = b"0\r\nX: ".to_vec();
        too_long.resize(3 + MAX_TRAILER_BYTES - 3, b'v');
        too_long.extend_from_slice(b"\r\n\r\n");
        let result = ChunkedDecoder::default().decode(&too_long, &mut out);
        assert_eq!(result, Err(ChunkError::LineTooLong));

        // Many short trailer lines count together.
        let mut many = b"0\r\n".to_vec();
        while many.len() < MAX_TRAILER_BYTES + 10 {
            many.extend_from_slice(b"A: b\r\n");
        }
        let result = ChunkedDecoder::default().decode(&many, &mut out);
        assert_eq!(result, Err(ChunkError::LineTooLong));
    }

    #[test]
    fn stops_consuming_once_done() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let input = b"3\r\nabc\r\n0\r\n\r\n3\r\nxyz\r\n";
        assert_eq!(decoder.decode(input, &mut out), Ok(13));
        assert!(decoder.is_done());
        assert_eq!(decoder.decode(&input[13..], &mut out), Ok(0));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn error_is_sticky() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        assert_eq!(decoder.decode(b"z", &mut out), Err(ChunkError::BadDigit));
        assert_eq!(
            decoder.decode(b"5\r\nhello", &mut out),
            Err(ChunkError::BadDigit)
        );
        assert_eq!(decoder.decode(b"", &mut out), Err(ChunkError::BadDigit));
        assert!(out.is_empty());
        assert!(!decoder.is_done());
    }

    #[test]
    fn empty_input_consumes_nothing() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        assert_eq!(decoder.decode(b"", &mut out), Ok(0));
        assert!(!decoder.is_done());
    }

    #[test]
    fn data_arrives_as_soon_as_it_is_fed() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        assert_eq!(decoder.decode(b"a\r\nhel", &mut out), Ok(6));
        assert_eq!(out, b"hel");
        assert_eq!(decoder.decode(b"lo", &mut out), Ok(2));
        assert_eq!(out, b"hello");
    }

    #[test]
    fn encode_chunk_writes_hex_size_and_crlfs() {
        let cases: &[(usize, &[u8])] = &[
            (1, b"1"),
            (9, b"9"),
            (10, b"A"),
            (15, b"F"),
            (16, b"10"),
            (255, b"FF"),
            (256, b"100"),
            (4096, b"1000"),
            (65_535, b"FFFF"),
        ];
        for &(len, size) in cases {
            let data = vec![b'x'; len];
            let mut out = b"prefix".to_vec();
            encode_chunk(&data, &mut out);
            let mut expected = b"prefix".to_vec();
            expected.extend_from_slice(size);
            expected.extend_from_slice(b"\r\n");
            expected.extend_from_slice(&data);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(out, expected, "len {len}");
        }
    }

    #[test]
    fn encode_chunk_of_nothing_appends_nothing() {
        let mut out = b"kept".to_vec();
        encode_chunk(b"", &mut out);
        assert_eq!(out, b"kept");
    }

    #[test]
    fn encoder_and_decoder_round_trip() {
        let pieces: &[&[u8]] = &[b"a", b"", b"\r\n0\r\n\r\n", &[0xFF; 300], b"end"];
        let mut wire = Vec::new();
        for piece in pieces {
            encode_chunk(piece, &mut wire);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let (out, left, done) = decode_in_steps(&wire, 3).unwrap();
        assert_eq!(out, pieces.concat());
        assert!(left.is_empty());
        assert!(done);
    }

    #[test]
    fn last_chunk_alone_is_an_empty_body() {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        assert_eq!(decoder.decode(LAST_CHUNK, &mut out), Ok(LAST_CHUNK.len()));
        assert!(decoder.is_done());
        assert!(out.is_empty());
    }

    #[test]
    fn chunk_error_messages_are_lowercase_without_period() {
        let all = [
            ChunkError::BadDigit,
            ChunkError::TooLarge,
            ChunkError::BadLineEnding,
            ChunkError::MissingCrlf,
            ChunkError::LineTooLong,
            ChunkError::BadTrailer,
            ChunkError::BadExtension,
        ];
        for error in all {
            let message = error.to_string();
            assert!(!message.is_empty());
            assert!(!message.ends_with('.'), "{message}");
            assert_eq!(message, message.to_lowercase(), "{message}");
        }
    }
}
