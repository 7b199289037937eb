//! Gzip on the fly (RFC 9110 section 8.4.1.3), in constant memory.
//!
//! The output length is not known in advance, so the server sends it with chunked
//! transfer coding (RFC 9112 section 7.1) and wraps its socket writer accordingly.
//! The gzip header carries no name and no time, so the same file always compresses
//! to the same bytes and a strong `ETag` per coding
//! ([`Validators::etag_for`](crate::Validators::etag_for)) stays honest.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::static_file::StaticFile;

/// The compression level [`gzip_stream`] uses: 6, zlib's default balance of speed
/// and size.
pub const GZIP_LEVEL: u32 = 6;

/// Compresses the whole of `file` with gzip into `out`, in constant memory, and
/// returns how many compressed bytes were written.
///
/// The file is read as [`StaticFile::send_to`] reads it (exactly its opened length);
/// the encoder keeps one window and one output buffer, whatever the file size.
/// Never use it for a range response: ranges apply to the identity bytes.
///
/// # Errors
/// The `io::Error` of a read or write, including `UnexpectedEof` if the file shrank.
/// Part of the output may have been written; the caller must end the connection
/// without the last chunk, so the client sees an incomplete body.
///
/// # Examples
/// ```no_run
/// use std::path::Path;
///
/// use httpd_files::{StaticFile, gzip_stream};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let path = httpd_security::resolve_path(Path::new("resources"), "/index.html")?;
/// let mut file = StaticFile::open(&path)?;
/// let mut compressed = Vec::new();
/// let n = gzip_stream(&mut file, &mut compressed)?;
/// assert_eq!(n, compressed.len() as u64);
/// # Ok(())
/// # }
/// ```
pub fn gzip_stream(file: &mut StaticFile, out: &mut dyn Write) -> io::Result<u64> {
    let mut counted = CountingWriter { inner: out, n: 0 };
    let mut encoder = GzEncoder::new(&mut counted, Compression::new(GZIP_LEVEL));
    file.send_to(&mut encoder)?;
    encoder.finish()?;
    Ok(counted.n)
}

/// Passes writes through and counts the bytes.
/// Compresses a file with gzip in steps, for a sender that owns a nonblocking socket:
/// each [`step`](GzipSteps::step) reads a bounded amount of the file and hands back the
/// compressed bytes it produced, so memory stays bounded and the work can run on a
/// thread that may block on the disk while another thread sends.
///
/// The output, concatenated over every step, is one complete gzip member, the same
/// bytes [`gzip_stream`] writes.
#[derive(Debug)]
pub struct GzipSteps {
    file: StaticFile,
    /// The next file byte to compress.
    offset: u64,
    encoder: GzEncoder<Vec<u8>>,
    done: bool,
}

impl GzipSteps {
    /// Starts compressing `file` from its first byte.
    pub fn new(file: StaticFile) -> GzipSteps {
        GzipSteps {
            file,
            offset: 0,
            encoder: GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL)),
            done: false,
        }
    }

    /// Compresses up to `max_input` more bytes of the file and appends the compressed
    /// bytes produced so far to `out`; returns true once the whole file is compressed
    /// and the gzip trailer is in `out`.
    ///
    /// # Errors
    /// The `io::Error` of reading the file (`UnexpectedEof` if it shrank); the stream
    /// is then unusable and the response must be cut off.
    pub fn step(&mut self, max_input: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        if self.done {
            return Ok(true);
        }
        let mut buf = vec![0u8; max_input.clamp(1, 1 << 20)];
        let mut taken = 0;
        while taken < max_input && self.offset < self.file.len() {
            let n = self.file.read_at(self.offset, &mut buf)?;
            self.encoder.write_all(&buf[..n])?;
            self.offset += n as u64;
            taken += n;
        }
        if self.offset >= self.file.len() {
            self.encoder.try_finish()?;
            self.done = true;
        }
        out.append(self.encoder.get_mut());
        Ok(self.done)
    }
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    /// Bytes accepted by `inner` so far.
    n: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;
    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::TempDir;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn gzip_round_trips_files_of_every_size() {
        let root = TempDir::new();
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let cases: &[(&str, &[u8])] = &[
            ("empty.txt", b""),
            ("one.txt", b"x"),
            ("hello.html", b"<h1>hello</h1>\n"),
            ("big.txt", &big),
        ];
        for &(name, contents) in cases {
            root.write(name, contents);
            let path = resolve_path(root.path(), &format!("/{name}")).unwrap();
            let mut file = StaticFile::open(&path).unwrap();
            let mut out = Vec::new();
            let n = gzip_stream(&mut file, &mut out).expect(name);
            assert_eq!(n, out.len() as u64, "{name}");
            assert_eq!(&out[..2], b"\x1f\x8b", "{name}: gzip magic");
            assert!(gunzip(&out) == contents, "{name}: round trip");
        }
        assert!(big.len() > 2_000_000);
    }

    #[test]
    fn gzip_output_is_deterministic_and_smaller_for_text() {
        let root = TempDir::new();
        root.write("a.css", "body { margin: 0 }\n".repeat(1000).as_bytes());
        let path = resolve_path(root.path(), "/a.css").unwrap();
        let mut file = StaticFile::open(&path).unwrap();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        gzip_stream(&mut file, &mut first).unwrap();
        gzip_stream(&mut file, &mut second).unwrap();
        assert_eq!(first, second);
        assert!(first.len() < 1000, "{} bytes", first.len());
    }

    #[test]
    fn gzip_reports_write_errors() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "peer left"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let root = TempDir::new();
        root.write("a.txt", &[b'a'; 100_000]);
        let path = resolve_path(root.path(), "/a.txt").unwrap();
        let mut file = StaticFile::open(&path).unwrap();
        let err = gzip_stream(&mut file, &mut Broken).expect_err("broken pipe");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
