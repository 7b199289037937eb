//! Byte classes from the HTTP grammar as 256-entry lookup tables.
//!
//! Each table is built at compile time by a `const fn`, so a lookup is one load
//! indexed by the byte itself and can never go out of bounds.

/// Token characters (RFC 9110 section 5.6.2):
///
/// ```text
/// token = 1*tchar
/// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*"
///       / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
///       / DIGIT / ALPHA
/// ```
pub(crate) const TCHAR: [bool; 256] = build_tchar();

/// Bytes allowed in a request target: visible ASCII (RFC 5234 `VCHAR`, `%x21-7E`).
///
/// The target grammar (RFC 9112 section 3.2) is narrower still, but every byte
/// it allows is a `VCHAR`; checking the finer grammar is left to the caller.
pub(crate) const VCHAR: [bool; 256] = build_vchar();

/// Bytes allowed inside a field value (RFC 9110 section 5.5):
///
/// ```text
/// field-value = *field-content
/// field-vchar = VCHAR / obs-text
/// obs-text    = %x80-FF
/// ```
///
/// plus SP and HTAB, which may appear between `field-vchar`s.
pub(crate) const FIELD_BYTE: [bool; 256] = build_field_byte();

/// Tells whether `b` is a `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Tells whether `b` may appear in a request target.
pub(crate) fn is_vchar(b: u8) -> bool {
    VCHAR[usize::from(b)]
}

/// Tells whether `b` may appear in a field value.
pub(crate) fn is_field_byte(b: u8) -> bool {
    FIELD_BYTE[usize::from(b)]
}

const fn build_tchar() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
}

const fn build_vchar() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i >= 0x21 && i <= 0x7E;
        i += 1;
    }
    table
}

const fn build_field_byte() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i == 0x09 || (i >= 0x20 && i <= 0x7E) || i >= 0x80;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_table_matches_the_rfc_list() {
        let specials = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || specials.contains(&b);
            assert_eq!(is_tchar(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn separators_are_not_tchars() {
        for &b in b"\"(),/:;<=>?@[\\]{} \t\r\n\x00\x7f\x80\xff" {
            assert!(!is_tchar(b), "byte {b:#04x}");
        }
    }

    #[test]
    fn vchar_table_is_visible_ascii_only() {
        for b in 0..=255u8 {
            assert_eq!(is_vchar(b), (0x21..=0x7E).contains(&b), "byte {b:#04x}");
        }
    }

    #[test]
    fn field_bytes_exclude_controls_and_del() {
        for b in 0..=255u8 {
            let expected = b == b'\t' || (0x20..=0x7E).contains(&b) || b >= 0x80;
            assert_eq!(is_field_byte(b), expected, "byte {b:#04x}");
        }
    }
}
