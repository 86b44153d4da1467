//! NumPy `.npy` I/O: C-order, little-endian `f32`/`f64`/`i32`/`i64` arrays.
//!
//! Reading returns a row-major [`Array`] with its shape; writing is atomic (a temporary file in
//! the target directory, renamed into place once complete). [`NpyRowWriter`] streams `f32` rows
//! for outputs too large to hold in memory and fixes the row count in the header at `finish`.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// An error reading or writing a `.npy` file; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be opened, read or written.
    /// (The I/O error is part of the message, not a `source`, so that a chain printed with
    /// `{:#}` names it once.)
    #[error("{}: {err}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying I/O error.
        err: std::io::Error,
    },
    /// The file is not a `.npy` file of the expected kind.
    #[error("{path}: {msg}")]
    Format {
        /// File concerned.
        path: PathBuf,
        /// What was wrong and what was expected.
        msg: String,
    },
}

fn fmt_err(path: &Path, msg: impl Into<String>) -> NpyError {
    NpyError::Format {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NpyError + '_ {
    move |err| NpyError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Element type of a `.npy` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`
    F32,
    /// `<f8`
    F64,
    /// `<i4`
    I32,
    /// `<i8`
    I64,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
        }
    }
    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
}

/// A dense array in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements in row-major order; `data.len()` is the product of `shape`.
    pub data: Vec<T>,
}

impl<T> Array<T> {
    /// Number of rows (first dimension; 1 for a 0-d array).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    /// Elements per row (product of the remaining dimensions).
    pub fn cols(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[T] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }
}

/// Parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Element type.
    pub dtype: Dtype,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_offset: usize,
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(fmt_err(path, "not a .npy file (missing \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(fmt_err(path, "truncated .npy header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(fmt_err(
                path,
                format!("unsupported .npy format version {v}"),
            ))
        }
    };
    if bytes.len() < start + hlen {
        return Err(fmt_err(path, "truncated .npy header"));
    }
    let text = std::str::from_utf8(&bytes[start..start + hlen])
        .map_err(|_| fmt_err(path, "header is not valid text"))?;
    let descr =
        dict_value(text, "descr").ok_or_else(|| fmt_err(path, "header has no 'descr' entry"))?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr: String = descr
        .chars()
        .take_while(|c| *c != '\'' && *c != '"')
        .collect();
    let dtype = match descr.as_str() {
        "<f4" => Dtype::F32,
        "<f8" => Dtype::F64,
        "<i4" => Dtype::I32,
        "<i8" => Dtype::I64,
        other => {
            return Err(fmt_err(
                path,
                format!(
                    "unsupported dtype '{other}' (expected little-endian f4, f8, i4 or i8: '<f4', '<f8', '<i4', '<i8')"
                ),
            ))
        }
    };
    let fortran = dict_value(text, "fortran_order")
        .ok_or_else(|| fmt_err(path, "header has no 'fortran_order' entry"))?;
    if fortran.starts_with("True") {
        return Err(fmt_err(
            path,
            "array is stored in Fortran order; expected C order (save with np.ascontiguousarray)",
        ));
    } else if !fortran.starts_with("False") {
        return Err(fmt_err(path, "malformed 'fortran_order' entry"));
    }
    let shape_txt =
        dict_value(text, "shape").ok_or_else(|| fmt_err(path, "header has no 'shape' entry"))?;
    let close = shape_txt
        .find(')')
        .filter(|_| shape_txt.starts_with('('))
        .ok_or_else(|| fmt_err(path, "malformed 'shape' entry"))?;
    let mut shape = Vec::new();
    for part in shape_txt[1..close].split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        shape.push(
            p.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| fmt_err(path, format!("malformed dimension '{p}' in 'shape'")))?,
        );
    }
    Ok(Header {
        dtype,
        shape,
        data_offset: start + hlen,
    })
}

/// Text after `'key':` in a header dict, with leading whitespace removed.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    for q in ['\'', '"'] {
        let pat = format!("{q}{key}{q}");
        if let Some(p) = text.find(&pat) {
            let rest = text[p + pat.len()..].trim_start();
            return rest.strip_prefix(':').map(str::trim_start);
        }
    }
    None
}

/// Reads and parses the header of a `.npy` file.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header, NpyError> {
    let path = path.as_ref();
    let f = File::open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    parse_header(path, &buf)
}

fn read_raw(path: &Path) -> Result<(Header, Vec<u8>), NpyError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    raw_from_bytes(path, bytes)
}

/// Header and data bytes of a whole `.npy` file held in memory (`path` names it in errors).
fn raw_from_bytes(path: &Path, mut bytes: Vec<u8>) -> Result<(Header, Vec<u8>), NpyError> {
    let header = parse_header(path, &bytes)?;
    let need = header
        .shape
        .iter()
        .try_fold(header.dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            fmt_err(
                path,
                format!(
                    "shape {:?} is too large (an unfinished file from an interrupted run?)",
                    header.shape
                ),
            )
        })?;
    let have = bytes.len() - header.data_offset;
    if have < need {
        return Err(fmt_err(
            path,
            format!(
                "truncated: shape {:?} of {} needs {need} data bytes, file has {have}",
                header.shape,
                header.dtype.descr()
            ),
        ));
    }
    if have > need {
        return Err(fmt_err(
            path,
            format!(
                "{} trailing bytes after the data of shape {:?}",
                have - need,
                header.shape
            ),
        ));
    }
    let data = bytes.split_off(header.data_offset);
    Ok((header, data))
}

fn decode<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes")))
        .collect()
}

/// Reads an `f32` array (dtype `<f4` only).
pub fn read_f32(path: impl AsRef<Path>) -> Result<Array<f32>, NpyError> {
    let path = path.as_ref();
    let (h, raw) = read_raw(path)?;
    if h.dtype != Dtype::F32 {
        return Err(fmt_err(
            path,
            format!("dtype is '{}', expected float32 '<f4'", h.dtype.descr()),
        ));
    }
    Ok(Array {
        shape: h.shape,
        data: decode(&raw, f32::from_le_bytes),
    })
}

/// Reads a floating-point array (`<f4` or `<f8`) as `f64` (lossless).
pub fn read_f64(path: impl AsRef<Path>) -> Result<Array<f64>, NpyError> {
    let path = path.as_ref();
    let (h, raw) = read_raw(path)?;
    let data = match h.dtype {
        Dtype::F32 => decode(&raw, |b| f32::from_le_bytes(b) as f64),
        Dtype::F64 => decode(&raw, f64::from_le_bytes),
        d => {
            return Err(fmt_err(
                path,
                format!(
                    "dtype is '{}', expected floating point '<f4' or '<f8'",
                    d.descr()
                ),
            ))
        }
    };
    Ok(Array {
        shape: h.shape,
        data,
    })
}

/// Reads a floating-point 2-D array `[n, d]` (`<f4` or `<f8`) as `f32`, rejecting other ranks;
/// `<f8` values are rounded to the nearest `f32`.
pub fn read_f32_matrix(path: impl AsRef<Path>) -> Result<Array<f32>, NpyError> {
    let path = path.as_ref();
    let (h, raw) = read_raw(path)?;
    if h.shape.len() != 2 {
        return Err(fmt_err(
            path,
            format!("shape {:?}: expected a 2-D array [n, d]", h.shape),
        ));
    }
    let data = match h.dtype {
        Dtype::F32 => decode(&raw, f32::from_le_bytes),
        Dtype::F64 => decode(&raw, |b| f64::from_le_bytes(b) as f32),
        d => {
            return Err(fmt_err(
                path,
                format!(
                    "dtype is '{}', expected float32 or float64 ('<f4' or '<f8')",
                    d.descr()
                ),
            ))
        }
    };
    Ok(Array {
        shape: h.shape,
        data,
    })
}

/// Reads an integer array (`<i4` or `<i8`) as `i64`.
pub fn read_i64(path: impl AsRef<Path>) -> Result<Array<i64>, NpyError> {
    let path = path.as_ref();
    let (h, raw) = read_raw(path)?;
    let data = match h.dtype {
        Dtype::I32 => decode(&raw, |b| i32::from_le_bytes(b) as i64),
        Dtype::I64 => decode(&raw, i64::from_le_bytes),
        d => {
            return Err(fmt_err(
                path,
                format!("dtype is '{}', expected integer '<i4' or '<i8'", d.descr()),
            ))
        }
    };
    Ok(Array {
        shape: h.shape,
        data,
    })
}

/// Reads a floating-point 2-D array `[n, d]` as `f64`, rejecting other ranks.
pub fn read_f64_matrix(path: impl AsRef<Path>) -> Result<Array<f64>, NpyError> {
    let path = path.as_ref();
    let a = read_f64(path)?;
    if a.shape.len() != 2 {
        return Err(fmt_err(
            path,
            format!("shape {:?}: expected a 2-D array [n, d]", a.shape),
        ));
    }
    Ok(a)
}

fn header_bytes(dtype: Dtype, shape: &[usize], min_len: usize) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        dtype.descr()
    );
    // Pad so that magic + version + length + dict + '\n' is a multiple of 64.
    let mut total = 10 + dict.len() + 1;
    total = total.max(min_len);
    total = total.div_ceil(64) * 64;
    while 10 + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn check_len(path: &Path, shape: &[usize], len: usize) -> Result<(), NpyError> {
    let n: usize = shape.iter().product();
    if n != len {
        return Err(fmt_err(
            path,
            format!("shape {shape:?} holds {n} elements but {len} were given"),
        ));
    }
    Ok(())
}

/// Writes `header` then `body` to `path` atomically.
fn write_atomic(path: &Path, header: &[u8], body: &[u8]) -> Result<(), NpyError> {
    crate::fs::write_atomic_with(path, |w| {
        w.write_all(header)?;
        w.write_all(body)
    })
    .map_err(|e| io_err(path)(e.source))
}

/// Writes an `f32` array atomically.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let path = path.as_ref();
    check_len(path, shape, data.len())?;
    let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(path, &header_bytes(Dtype::F32, shape, 0), &body)
}

/// Writes an `i64` array atomically.
pub fn write_i64(path: impl AsRef<Path>, shape: &[usize], data: &[i64]) -> Result<(), NpyError> {
    let path = path.as_ref();
    check_len(path, shape, data.len())?;
    let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(path, &header_bytes(Dtype::I64, shape, 0), &body)
}

/// Streaming writer of an `f32` matrix `[rows, cols]` whose row count is known only at the end.
///
/// Rows go to a temporary file next to the target; [`NpyRowWriter::finish`] writes the final
/// header and renames the file into place. Dropping the writer unfinished removes the temporary.
pub struct NpyRowWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    cols: usize,
    rows: usize,
    header_len: usize,
}

impl NpyRowWriter {
    /// Starts a matrix with `cols` columns at `path`.
    pub fn create(path: impl AsRef<Path>, cols: usize) -> Result<Self, NpyError> {
        let path = path.as_ref().to_path_buf();
        let tmp = crate::fs::temp_sibling(&path);
        // Reserve room for the largest row count so the header never grows.
        let header = header_bytes(Dtype::F32, &[usize::MAX, cols], 0);
        let mut file = BufWriter::new(File::create(&tmp).map_err(io_err(&path))?);
        file.write_all(&header).map_err(io_err(&path))?;
        Ok(Self {
            path,
            tmp,
            file: Some(file),
            cols,
            rows: 0,
            header_len: header.len(),
        })
    }

    /// Appends one row of exactly `cols` values.
    pub fn write_row(&mut self, row: &[f32]) -> Result<(), NpyError> {
        if row.len() != self.cols {
            return Err(fmt_err(
                &self.path,
                format!(
                    "row {} has {} values, expected {}",
                    self.rows,
                    row.len(),
                    self.cols
                ),
            ));
        }
        let f = self.file.as_mut().expect("writer is open until finish");
        for v in row {
            f.write_all(&v.to_le_bytes()).map_err(io_err(&self.path))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Fixes the header's row count, flushes and renames the file into place.
    pub fn finish(mut self) -> Result<(), NpyError> {
        let path = self.path.clone();
        let header = header_bytes(Dtype::F32, &[self.rows, self.cols], self.header_len);
        debug_assert_eq!(header.len(), self.header_len);
        let file = self.file.take().expect("writer is open until finish");
        let res = (|| {
            let mut f = file.into_inner().map_err(|e| e.into_error())?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header)?;
            f.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        res.map_err(io_err(&path))
    }
}

impl Drop for NpyRowWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tunescope-npy-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `np.save(f, np.array([[1.5, -2.0, 3.25], [0.0, 4.0, -0.5]], dtype=np.float32))`
    /// with numpy 2.4.6 (byte-for-byte the file numpy writes).
    fn numpy_f32_2x3() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"\x93NUMPY\x01\x00v\x00");
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut h = dict.to_string();
        while h.len() < 117 {
            h.push(' ');
        }
        h.push('\n');
        b.extend_from_slice(h.as_bytes());
        for v in [1.5f32, -2.0, 3.25, 0.0, 4.0, -0.5] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_numpy_written_f32() {
        let d = tmpdir("numpy");
        let p = d.join("a.npy");
        std::fs::write(&p, numpy_f32_2x3()).unwrap();
        let a = read_f32(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.row(1), &[0.0, 4.0, -0.5]);
        let b = read_f64_matrix(&p).unwrap();
        assert_eq!(b.data[2], 3.25);
        let c = read_f32_matrix(&p).unwrap();
        assert_eq!(
            (c.shape.as_slice(), c.row(1)),
            (&[2, 3][..], &[0.0f32, 4.0, -0.5][..])
        );
        assert!(read_i64(&p).unwrap_err().to_string().contains("a.npy"));
    }

    #[test]
    fn round_trips_and_header_matches_numpy_layout() {
        let d = tmpdir("rt");
        let p = d.join("x.npy");
        write_f32(&p, &[2, 3], &[1.5, -2.0, 3.25, 0.0, 4.0, -0.5]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), numpy_f32_2x3());
        let q = d.join("y.npy");
        write_i64(&q, &[4], &[1, -2, 3, i64::MAX]).unwrap();
        let y = read_i64(&q).unwrap();
        assert_eq!(y.shape, vec![4]);
        assert_eq!(y.data, vec![1, -2, 3, i64::MAX]);
        assert!(write_f32(&p, &[2, 2], &[1.0]).is_err());
    }

    #[test]
    fn streaming_writer_fixes_row_count() {
        let d = tmpdir("stream");
        let p = d.join("s.npy");
        let mut w = NpyRowWriter::create(&p, 2).unwrap();
        for i in 0..1000 {
            w.write_row(&[i as f32, -(i as f32)]).unwrap();
        }
        assert!(w.write_row(&[1.0]).is_err());
        assert!(!p.exists(), "target must not appear before finish");
        w.finish().unwrap();
        let a = read_f32(&p).unwrap();
        assert_eq!(a.shape, vec![1000, 2]);
        assert_eq!(a.row(999), &[999.0, -999.0]);
        let h = read_header(&p).unwrap();
        assert_eq!(h.data_offset % 64, 0);

        let p2 = d.join("dropped.npy");
        let mut w = NpyRowWriter::create(&p2, 1).unwrap();
        w.write_row(&[1.0]).unwrap();
        drop(w);
        assert!(!p2.exists());
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    }

    #[test]
    fn clear_errors() {
        let d = tmpdir("err");
        let good = numpy_f32_2x3();
        let p = d.join("t.npy");
        std::fs::write(&p, &good[..good.len() - 3]).unwrap();
        let e = read_f32(&p).unwrap_err().to_string();
        assert!(e.contains("t.npy") && e.contains("truncated"), "{e}");

        let mut f = good.clone();
        let s = String::from_utf8_lossy(&f[10..128]).replace("False", "True ");
        f[10..128].copy_from_slice(s.as_bytes());
        std::fs::write(&p, &f).unwrap();
        let e = read_f32(&p).unwrap_err().to_string();
        assert!(e.contains("Fortran"), "{e}");

        let mut f = good.clone();
        let s = String::from_utf8_lossy(&f[10..128]).replace("<f4", ">f4");
        f[10..128].copy_from_slice(s.as_bytes());
        std::fs::write(&p, &f).unwrap();
        let e = read_f64(&p).unwrap_err().to_string();
        assert!(e.contains("'>f4'"), "{e}");

        std::fs::write(&p, b"hello world").unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("magic"));

        write_f32(&p, &[6], &[0.0; 6]).unwrap();
        let e = read_f64_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("2-D"), "{e}");
        let e = read_f32_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("2-D"), "{e}");

        let missing = d.join("missing.npy");
        assert!(read_f32(&missing)
            .unwrap_err()
            .to_string()
            .contains("missing.npy"));
    }
}
