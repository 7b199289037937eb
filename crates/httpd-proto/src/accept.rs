//! The `Accept-Encoding` request header: which content codings a client takes
//! (RFC 9110 section 12.5.3).
//!
//! ```text
//! Accept-Encoding  = #( codings [ weight ] )
//! codings          = content-coding / "identity" / "*"
//! weight           = OWS ";" OWS "q=" qvalue
//! qvalue           = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
//! ```
//!
//! Only the codings this server can produce are remembered ([`Coding`]); others are
//! skipped. Parsing does not allocate.

use crate::field::elements;
use crate::field::trim_ows;

/// The highest quality value, `q=1`, in thousandths.
pub const Q_MAX: u16 = 1000;

/// A content coding the server can send (RFC 9110 section 8.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Coding {
    /// No transformation: the bytes of the file as they are.
    Identity,
    /// `gzip` (RFC 1952); the obsolete alias `x-gzip` means the same.
    Gzip,
    /// `br`, Brotli (RFC 7932).
    Brotli,
}

impl Coding {
    /// Returns the coding's name as written in `Content-Encoding`: `identity`, `gzip`
    /// or `br`.
    ///
    /// `identity` is never sent in `Content-Encoding`; leave the field out instead.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }

    /// Returns the coding named by `token` (case-insensitive; `x-gzip` is gzip), or
    /// `None` for a coding this crate does not know, such as `deflate` or `*`.
    ///
    /// # Examples
    ///
    /// ```
    /// use httpd_proto::Coding;
    ///
    /// assert_eq!(Coding::from_token(b"X-GZIP"), Some(Coding::Gzip));
    /// assert_eq!(Coding::from_token(b"zstd"), None);
    /// ```
    pub fn from_token(token: &[u8]) -> Option<Coding> {
        if token.eq_ignore_ascii_case(b"identity") {
            Some(Coding::Identity)
        } else if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if token.eq_ignore_ascii_case(b"br") {
            Some(Coding::Brotli)
        } else {
            None
        }
    }
}

/// The codings a client accepts, with their quality values, from
/// [`parse_accept_encoding`].
///
/// The `Default` value is what a request without `Accept-Encoding` means here:
/// identity only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// The explicit `identity` entry's weight, in thousandths.
    identity: Option<u16>,
    /// The explicit `gzip` or `x-gzip` entry's weight.
    gzip: Option<u16>,
    /// The explicit `br` entry's weight.
    brotli: Option<u16>,
    /// The `*` entry's weight, for codings without an entry of their own.
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Returns how much the client wants `coding`, from 0 (not acceptable) to
    /// [`Q_MAX`] (1000, `q=1`).
    ///
    /// An entry naming the coding wins; otherwise `*` applies; otherwise `identity` is
    /// acceptable (1000) and every other coding is not (0), as RFC 9110 section 12.5.3
    /// says.
    pub fn q(&self, coding: Coding) -> u16 {
        let explicit = match coding {
            Coding::Identity => self.identity,
            Coding::Gzip => self.gzip,
            Coding::Brotli => self.brotli,
        };
        let default = match coding {
            Coding::Identity => Q_MAX,
            Coding::Gzip | Coding::Brotli => 0,
        };
        explicit.or(self.any).unwrap_or(default)
    }

    /// Tells whether the client accepts `coding` at all (its weight is above 0).
    pub fn accepts(&self, coding: Coding) -> bool {
        self.q(coding) > 0
    }

    /// Returns the coding of `available` the client wants most, or `None` if it
    /// accepts none of them.
    ///
    /// The highest weight wins; between equal weights the one listed first in
    /// `available` wins, so the server states its own preference by the order.
    /// `None` includes the case where the client refused `identity` (`identity;q=0`
    /// or `*;q=0`) and nothing else is available: the server should answer 406 or
    /// send identity anyway (RFC 9110 section 12.5.3 allows either).
    ///
    /// # Examples
    ///
    /// ```
    /// use httpd_proto::{Coding, parse_accept_encoding};
    ///
    /// let accept = parse_accept_encoding(Some(b"gzip, br;q=0.9"));
    /// let offer = [Coding::Brotli, Coding::Gzip, Coding::Identity];
    /// assert_eq!(accept.preferred(&offer), Some(Coding::Gzip));
    /// assert_eq!(parse_accept_encoding(None).preferred(&offer), Some(Coding::Identity));
    /// ```
    pub fn preferred(&self, available: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &coding in available {
            let q = self.q(coding);
            if q == 0 {
                continue;
            }
            if best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((coding, q));
            }
        }
        best.map(|(coding, _)| coding)
    }
}

/// Parses an `Accept-Encoding` value; `None` (no such header) means identity only.
///
/// Each list element is a coding name (case-insensitive; `x-gzip` is gzip) with an
/// optional `;q=` weight, written with at most three decimals. Elements are handled
/// as follows; none of them is an error:
///
/// - A coding this crate does not produce (`deflate`, `zstd`, ...) is skipped.
/// - When a coding is listed twice, the first entry counts.
/// - An element whose weight is malformed (`q=2`, `q=0.5555`, `q=abc`, another
///   parameter) is skipped as if it were not there: it neither enables a coding nor
///   refuses `identity`, so a sloppy header can only make the answer plainer.
/// - An empty value, like a missing one, leaves only `identity` acceptable.
///
/// # Examples
///
/// ```
/// use httpd_proto::{Coding, parse_accept_encoding};
///
/// let accept = parse_accept_encoding(Some(b"gzip;q=0.5, identity;q=0"));
/// assert_eq!(accept.q(Coding::Gzip), 500);
/// assert_eq!(accept.q(Coding::Identity), 0);
/// assert_eq!(accept.q(Coding::Brotli), 0);
/// ```
pub fn parse_accept_encoding(value: Option<&[u8]>) -> AcceptEncoding {
    let mut accept = AcceptEncoding::default();
    let Some(value) = value else {
        return accept;
    };
    for element in elements(value) {
        if element.is_empty() {
            continue;
        }
        let Some((name, q)) = parse_element(element) else {
            continue;
        };
        let slot = if name == b"*" {
            &mut accept.any
        } else {
            match Coding::from_token(name) {
                Some(Coding::Identity) => &mut accept.identity,
                Some(Coding::Gzip) => &mut accept.gzip,
                Some(Coding::Brotli) => &mut accept.brotli,
                None => continue,
            }
        };
        if slot.is_none() {
            *slot = Some(q);
        }
    }
    accept
}

/// Splits one trimmed element into its coding name and weight (1000 when absent);
/// `None` if the weight or the name is malformed.
fn parse_element(element: &[u8]) -> Option<(&[u8], u16)> {
    let (name, params) = match memchr::memchr(b';', element) {
        Some(i) => (trim_ows(&element[..i]), Some(&element[i + 1..])),
        None => (element, None),
    };
    if name.is_empty() || !name.iter().all(|&b| crate::table::is_tchar(b)) {
        return None;
    }
    let q = match params {
        None => Q_MAX,
        Some(params) => {
            let param = trim_ows(params);
            let (key, value) = param.split_at(memchr::memchr(b'=', param)?);
            if !key.eq_ignore_ascii_case(b"q") {
                return None;
            }
            parse_qvalue(&value[1..])?
        }
    };
    Some((name, q))
}

/// Parses a `qvalue` into thousandths: `0`, `0.5`, `0.125`, `1`, `1.000`.
fn parse_qvalue(value: &[u8]) -> Option<u16> {
    let (&int, rest) = value.split_first()?;
    let fraction = match rest.split_first() {
        None => &[][..],
        Some((&b'.', fraction)) if fraction.len() <= 3 => fraction,
        Some(_) => return None,
    };
    let mut thousandths: u16 = 0;
    let mut scale: u16 = 100;
    for &b in fraction {
        if !b.is_ascii_digit() {
            return None;
        }
        thousandths += u16::from(b - b'0') * scale;
        scale /= 10;
    }
    match int {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(Q_MAX),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Coding::{Brotli, Gzip, Identity};

    /// The weights of identity, gzip and br, in that order.
    fn weights(value: Option<&[u8]>) -> [u16; 3] {
        let accept = parse_accept_encoding(value);
        [accept.q(Identity), accept.q(Gzip), accept.q(Brotli)]
    }

    #[test]
    fn weights_follow_rfc_9110_section_12_5_3() {
        let cases: &[(Option<&[u8]>, [u16; 3])] = &[
            // No header, or an empty one: identity only.
            (None, [1000, 0, 0]),
            (Some(b""), [1000, 0, 0]),
            (Some(b" , "), [1000, 0, 0]),
            // Examples from the RFC.
            (Some(b"compress, gzip"), [1000, 1000, 0]),
            (Some(b"*"), [1000, 1000, 1000]),
            (Some(b"compress;q=0.5, gzip;q=1.0"), [1000, 1000, 0]),
            (Some(b"gzip;q=1.0, identity; q=0.5, *;q=0"), [500, 1000, 0]),
            // Identity is refused only explicitly, or by `*;q=0` without its own entry.
            (Some(b"identity;q=0"), [0, 0, 0]),
            (Some(b"*;q=0"), [0, 0, 0]),
            (Some(b"*;q=0, identity"), [1000, 0, 0]),
            (Some(b"gzip, *;q=0"), [0, 1000, 0]),
            (Some(b"br;q=0.8, *;q=0.1"), [100, 100, 800]),
            // Case, x-gzip, whitespace and unknown codings.
            (Some(b"GZIP, Br"), [1000, 1000, 1000]),
            (Some(b"x-gzip"), [1000, 1000, 0]),
            (Some(b"X-Gzip;Q=0.3"), [1000, 300, 0]),
            (Some(b"  gzip ;  q=0.25 ,\tbr\t"), [1000, 250, 1000]),
            (Some(b"deflate, zstd"), [1000, 0, 0]),
            // The first entry for a coding counts.
            (Some(b"gzip;q=0, gzip"), [1000, 0, 0]),
            (Some(b"x-gzip;q=0.2, gzip;q=0.9"), [1000, 200, 0]),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                weights(value),
                expected,
                "{:?}",
                value.map(|v| v.escape_ascii().to_string())
            );
        }
    }

    #[test]
    fn qvalues_parse_to_thousandths() {
        let cases: &[(&[u8], Option<u16>)] = &[
            (b"0", Some(0)),
            (b"0.", Some(0)),
            (b"0.0", Some(0)),
            (b"0.5", Some(500)),
            (b"0.05", Some(50)),
            (b"0.001", Some(1)),
            (b"0.999", Some(999)),
            (b"1", Some(1000)),
            (b"1.", Some(1000)),
            (b"1.000", Some(1000)),
            (b"1.001", None),
            (b"1.5", None),
            (b"2", None),
            (b"0.0001", None),
            (b"", None),
            (b".5", None),
            (b"-0", None),
            (b"+1", None),
            (b"0,5", None),
            (b"0.5 ", None),
            (b"0x1", None),
            (b"\xff", None),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                parse_qvalue(value),
                expected,
                "{:?}",
                value.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn malformed_elements_are_skipped() {
        let cases: &[(&[u8], [u16; 3])] = &[
            (b"gzip;q=2", [1000, 0, 0]),
            (b"gzip;q=abc", [1000, 0, 0]),
            (b"gzip;q=", [1000, 0, 0]),
            (b"gzip;level=9", [1000, 0, 0]),
            (b"gzip;", [1000, 0, 0]),
            (b"identity;q=zero", [1000, 0, 0]),
            (b"*;q=-1", [1000, 0, 0]),
            (b"gzip;q=0.5;q=0.1", [1000, 0, 0]),
            (b";q=1", [1000, 0, 0]),
            (b"g zip", [1000, 0, 0]),
            (b"\"gzip\"", [1000, 0, 0]),
            (b"gzip;q=2, br", [1000, 0, 1000]),
            (b"\xff\xfe, gzip", [1000, 1000, 0]),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                weights(Some(value)),
                expected,
                "{:?}",
                value.escape_ascii().to_string()
            );
        }
    }

    /// A header value, the codings on offer, and the expected choice.
    type PreferredCase<'a> = (Option<&'a [u8]>, &'a [Coding], Option<Coding>);

    #[test]
    fn preferred_takes_the_highest_weight_then_the_server_order() {
        let all = [Brotli, Gzip, Identity];
        let cases: &[PreferredCase<'_>] = &[
            (None, &all, Some(Identity)),
            (None, &[Gzip], None),
            (Some(b"gzip"), &all, Some(Gzip)),
            (Some(b"gzip, br"), &all, Some(Brotli)),
            (Some(b"gzip, br"), &[Gzip, Brotli, Identity], Some(Gzip)),
            // Identity keeps its implicit q=1 unless listed.
            (Some(b"gzip;q=0.5, br;q=0.4"), &all, Some(Identity)),
            (Some(b"gzip;q=0.5, br;q=0.4"), &[Brotli, Gzip], Some(Gzip)),
            (Some(b"gzip;q=0.5"), &all, Some(Identity)),
            (Some(b"gzip;q=0.5, identity;q=0.1"), &all, Some(Gzip)),
            (Some(b"*"), &all, Some(Brotli)),
            (Some(b"*;q=0"), &all, None),
            (Some(b"identity;q=0"), &[Identity], None),
            (Some(b"identity;q=0, gzip"), &[Identity], None),
            (Some(b"identity;q=0, gzip"), &all, Some(Gzip)),
            (Some(b"gzip;q=0"), &[Gzip], None),
            (Some(b"br"), &[Gzip, Identity], Some(Identity)),
            (Some(b"gzip"), &[], None),
        ];
        for &(value, available, expected) in cases {
            let accept = parse_accept_encoding(value);
            assert_eq!(
                accept.preferred(available),
                expected,
                "{:?} from {available:?}",
                value.map(|v| v.escape_ascii().to_string())
            );
        }
    }

    #[test]
    fn coding_names_round_trip() {
        for coding in [Identity, Gzip, Brotli] {
            assert_eq!(Coding::from_token(coding.as_str().as_bytes()), Some(coding));
        }
        for token in [&b"*"[..], b"", b"deflate", b"gzip ", b"brotli"] {
            assert_eq!(Coding::from_token(token), None, "{token:?}");
        }
        assert!(parse_accept_encoding(Some(b"br")).accepts(Brotli));
        assert!(!parse_accept_encoding(Some(b"br;q=0")).accepts(Brotli));
    }
}
