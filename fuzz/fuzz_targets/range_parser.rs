//! `httpd_proto::parse_range` on arbitrary values, sizes and range limits: the ranges it
//! returns are sorted, disjoint, inside the representation and never more bytes than it.
#![no_main]

use httpd_proto::{RangeRequest, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Eight bytes of size (often small, sometimes huge), one of max_ranges, then the value.
    let Some((size_bytes, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((&max, value)) = rest.split_first() else {
        return;
    };
    let raw_size = u64::from_le_bytes(*size_bytes);
    let size = if raw_size & 1 == 0 {
        raw_size >> 1
    } else {
        (raw_size >> 1) % 20_000
    };
    let max_ranges = usize::from(max % 40);

    match parse_range(value, size, max_ranges) {
        RangeRequest::Ignore => {}
        RangeRequest::Unsatisfiable => {}
        RangeRequest::Ranges(ranges) => {
            assert!(!ranges.is_empty());
            assert!(ranges.len() <= max_ranges);
            let mut total: u64 = 0;
            for (i, range) in ranges.iter().enumerate() {
                assert!(range.start <= range.end, "{range:?}");
                assert!(range.end < size, "{range:?} size {size}");
                assert!(!range.is_empty());
                assert_eq!(range.len(), range.end - range.start + 1);
                if let Some(prev) = i.checked_sub(1).map(|j| ranges[j]) {
                    // Sorted, and neither overlapping nor touching (those are merged).
                    assert!(range.start > prev.end + 1, "{prev:?} then {range:?}");
                }
                total += range.len();
                let _ = range.content_range(size);
            }
            assert!(total <= size);
        }
    }
});
