//! Small dense linear algebra on row-major `f64` matrices: the matrix type shared by the
//! similarity, PCA and statistics modules, a deterministic parallel `AᵀB`, and a symmetric
//! eigen-decomposition (faer's, under a fixed order and sign convention) used for PCA,
//! DirectProbe's span, singular values and nuclear norms.

use rayon::prelude::*;
use std::ops::{Index, IndexMut};

/// Errors of the linear-algebra routines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// `data.len()` does not equal `rows * cols`.
    #[error("data length {len} does not match a {rows}x{cols} matrix")]
    DataLength {
        /// Requested rows.
        rows: usize,
        /// Requested columns.
        cols: usize,
        /// Length of the data given.
        len: usize,
    },
    /// Rows of a ragged input have different lengths.
    #[error("row {row} has {len} values, expected {expected}")]
    RaggedRows {
        /// Index of the offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// Length of the first row.
        expected: usize,
    },
    /// Two operands have incompatible shapes.
    #[error("shape mismatch: {left:?} vs {right:?} ({op})")]
    ShapeMismatch {
        /// Operation that was attempted.
        op: &'static str,
        /// `(rows, cols)` of the left operand.
        left: (usize, usize),
        /// `(rows, cols)` of the right operand.
        right: (usize, usize),
    },
    /// A square matrix was required.
    #[error("matrix is {rows}x{cols}, a square matrix is required")]
    NotSquare {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// The input holds NaN or infinity.
    #[error("matrix holds a non-finite value at ({row}, {col})")]
    NonFinite {
        /// Row of the first non-finite value.
        row: usize,
        /// Column of the first non-finite value.
        col: usize,
    },
    /// The eigen-solver's iteration did not converge (does not happen for finite symmetric
    /// input).
    #[error("symmetric eigen-decomposition did not converge")]
    NoConvergence,
}

/// Dense row-major `rows × cols` matrix of `f64`; element `(i, j)` is `data[i * cols + j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Wraps row-major `data` as a `rows × cols` matrix.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, LinalgError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(LinalgError::DataLength {
                rows,
                cols,
                len: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Converts row-major `f32` data (e.g. a `.npy` representation file) to an `f64` matrix.
    pub fn from_f32(rows: usize, cols: usize, data: &[f32]) -> Result<Self, LinalgError> {
        Self::new(rows, cols, data.iter().map(|&v| f64::from(v)).collect())
    }

    /// Builds a matrix from equally long rows; zero rows give a `0 × 0` matrix.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self, LinalgError> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(LinalgError::RaggedRows {
                    row: i,
                    len: r.len(),
                    expected: cols,
                });
            }
            data.extend_from_slice(r);
        }
        Self::new(rows.len(), cols, data)
    }

    /// The `rows × cols` zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The `n × n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Row-major data.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// Consumes the matrix, returning its row-major data.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i` as a mutable slice.
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterator over the rows.
    pub fn row_iter(&self) -> impl Iterator<Item = &[f64]> {
        // `max(1)` keeps `chunks_exact` valid for zero-column matrices (which have no data).
        self.data.chunks_exact(self.cols.max(1))
    }

    /// Errors with the position of the first NaN/infinity, if any.
    pub fn check_finite(&self) -> Result<(), LinalgError> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(p) => Err(LinalgError::NonFinite {
                row: p / self.cols.max(1),
                col: p % self.cols.max(1),
            }),
        }
    }

    /// The transpose.
    pub fn transpose(&self) -> Matrix {
        let mut t = Matrix::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        t
    }

    /// Matrix product `self · other`.
    pub fn matmul(&self, other: &Matrix) -> Result<Matrix, LinalgError> {
        if self.cols != other.rows {
            return Err(LinalgError::ShapeMismatch {
                op: "matmul",
                left: self.shape(),
                right: other.shape(),
            });
        }
        let q = other.cols;
        let mut out = Matrix::zeros(self.rows, q);
        if q == 0 {
            return Ok(out);
        }
        out.data
            .par_chunks_mut(q)
            .enumerate()
            .for_each(|(i, out_row)| {
                for (k, &a) in self.row(i).iter().enumerate() {
                    for (o, &b) in out_row.iter_mut().zip(other.row(k)) {
                        *o += a * b;
                    }
                }
            });
        Ok(out)
    }

    /// Column means `μ_j = (1/n) Σ_i x_ij` (zeros for a matrix without rows).
    pub fn column_means(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.cols];
        if self.rows == 0 {
            return m;
        }
        for r in self.row_iter() {
            for (a, &v) in m.iter_mut().zip(r) {
                *a += v;
            }
        }
        let n = self.rows as f64;
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    /// The matrix with its column means subtracted, `X − 1μᵀ`.
    pub fn centered(&self) -> Matrix {
        let mu = self.column_means();
        let mut c = self.clone();
        if self.cols > 0 {
            for r in c.data.chunks_exact_mut(self.cols) {
                for (v, m) in r.iter_mut().zip(&mu) {
                    *v -= m;
                }
            }
        }
        c
    }

    /// The rows at `indices`, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: indices.len(),
            cols: self.cols,
            data,
        }
    }

    /// Frobenius norm `‖A‖_F = sqrt(Σ a_ij²)`.
    pub fn frobenius_norm(&self) -> f64 {
        self.data.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    /// Multiplies every element by `s`.
    pub fn scale(&mut self, s: f64) {
        self.data.iter_mut().for_each(|v| *v *= s);
    }
}

impl Index<(usize, usize)> for Matrix {
    type Output = f64;
    fn index(&self, (i, j): (usize, usize)) -> &f64 {
        assert!(i < self.rows && j < self.cols, "index out of bounds");
        &self.data[i * self.cols + j]
    }
}

impl IndexMut<(usize, usize)> for Matrix {
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut f64 {
        assert!(i < self.rows && j < self.cols, "index out of bounds");
        &mut self.data[i * self.cols + j]
    }
}

/// Number of row chunks for the parallel `AᵀB`: a function of `n` only, so results do not
/// depend on the number of threads.
fn chunk_rows(n: usize) -> usize {
    const MIN_CHUNK: usize = 512;
    const MAX_CHUNKS: usize = 32;
    n.div_ceil(MAX_CHUNKS).max(MIN_CHUNK)
}

/// Cross product `AᵀB` (`[p × q]` for `A: [n × p]`, `B: [n × q]`).
///
/// Rows are summed in fixed-size chunks in parallel and the chunk sums are added in order, so the
/// result is bit-identical for any number of threads. Cost `O(n·p·q)`.
pub fn cross_product(a: &Matrix, b: &Matrix) -> Result<Matrix, LinalgError> {
    cross_product_centered(a, None, b, None)
}

/// `(A − 1μ_aᵀ)ᵀ(B − 1μ_bᵀ)` without materialising the centred matrices (rows are centred on the
/// fly); `None` means no centring of that operand. See [`cross_product`].
///
/// # Panics
/// If a mean's length differs from its matrix's column count.
pub fn cross_product_centered(
    a: &Matrix,
    mean_a: Option<&[f64]>,
    b: &Matrix,
    mean_b: Option<&[f64]>,
) -> Result<Matrix, LinalgError> {
    if a.rows != b.rows {
        return Err(LinalgError::ShapeMismatch {
            op: "cross_product",
            left: a.shape(),
            right: b.shape(),
        });
    }
    Ok(cross_impl(a, mean_a, b, mean_b, false))
}

/// Gram matrix `(A − 1μᵀ)ᵀ(A − 1μᵀ)` (`[p × p]`, `None`: no centring). Only the upper triangle is
/// accumulated (half the work of [`cross_product_centered`]) and mirrored, so the result is
/// exactly symmetric and its upper triangle is bit-identical to the general routine's.
///
/// # Panics
/// If `mean`'s length differs from the column count.
pub fn gram_centered(a: &Matrix, mean: Option<&[f64]>) -> Matrix {
    cross_impl(a, mean, a, mean, true)
}

fn cross_impl(
    a: &Matrix,
    mean_a: Option<&[f64]>,
    b: &Matrix,
    mean_b: Option<&[f64]>,
    symmetric: bool,
) -> Matrix {
    let (n, p, q) = (a.rows, a.cols, b.cols);
    if let Some(m) = mean_a {
        assert_eq!(m.len(), p, "mean_a length");
    }
    if let Some(m) = mean_b {
        assert_eq!(m.len(), q, "mean_b length");
    }
    let mut out = Matrix::zeros(p, q);
    if n == 0 || p == 0 || q == 0 {
        return out;
    }
    let chunk = chunk_rows(n);
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let partials: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&s| {
            let e = (s + chunk).min(n);
            let mut acc = vec![0.0; p * q];
            cross_chunk_dispatch(a, mean_a, b, mean_b, s..e, &mut acc, symmetric);
            acc
        })
        .collect();
    for part in &partials {
        for (o, v) in out.data.iter_mut().zip(part) {
            *o += v;
        }
    }
    if symmetric {
        for i in 1..p {
            for j in 0..i {
                out.data[i * p + j] = out.data[j * p + i];
            }
        }
    }
    out
}

/// [`cross_chunk`] compiled for AVX2 when the CPU has it, else the portable build. The two give
/// bit-identical results: the same operations in the same order, only on wider vectors (no FMA
/// contraction happens without `mul_add`).
fn cross_chunk_dispatch(
    a: &Matrix,
    mean_a: Option<&[f64]>,
    b: &Matrix,
    mean_b: Option<&[f64]>,
    rows: std::ops::Range<usize>,
    acc: &mut [f64],
    symmetric: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { cross_chunk_avx2(a, mean_a, b, mean_b, rows, acc, symmetric) };
            return;
        }
    }
    cross_chunk(a, mean_a, b, mean_b, rows, acc, symmetric);
}

/// [`cross_chunk`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn cross_chunk_avx2(
    a: &Matrix,
    mean_a: Option<&[f64]>,
    b: &Matrix,
    mean_b: Option<&[f64]>,
    rows: std::ops::Range<usize>,
    acc: &mut [f64],
    symmetric: bool,
) {
    cross_chunk(a, mean_a, b, mean_b, rows, acc, symmetric);
}

/// Copies row `r` of `m` into `buf`, subtracting `mean` if given.
fn load_row(m: &Matrix, mean: Option<&[f64]>, r: usize, buf: &mut [f64]) {
    let row = m.row(r);
    match mean {
        Some(mu) => {
            for ((o, &v), &c) in buf.iter_mut().zip(row).zip(mu) {
                *o = v - c;
            }
        }
        None => buf.copy_from_slice(row),
    }
}

/// Adds `Σ_{r ∈ rows} a_r b_rᵀ` to `acc` (`p × q`), register-blocked over four input rows and
/// two output rows; with `symmetric`, output row `i` only from column `i` (rounded down to the
/// block) on.
#[inline(always)]
fn cross_chunk(
    a: &Matrix,
    mean_a: Option<&[f64]>,
    b: &Matrix,
    mean_b: Option<&[f64]>,
    rows: std::ops::Range<usize>,
    acc: &mut [f64],
    symmetric: bool,
) {
    let (p, q) = (a.cols, b.cols);
    // Four centred rows of each operand; missing rows at the end stay zero (adding 0·0 = +0).
    let mut xa = vec![0.0; 4 * p];
    let mut xb = vec![0.0; 4 * q];
    let mut r = rows.start;
    while r < rows.end {
        let m = (rows.end - r).min(4);
        for k in 0..4 {
            if k < m {
                load_row(a, mean_a, r + k, &mut xa[k * p..(k + 1) * p]);
                load_row(b, mean_b, r + k, &mut xb[k * q..(k + 1) * q]);
            } else {
                xa[k * p..(k + 1) * p].fill(0.0);
                xb[k * q..(k + 1) * q].fill(0.0);
            }
        }
        let (b0, rest) = xb.split_at(q);
        let (b1, rest) = rest.split_at(q);
        let (b2, b3) = rest.split_at(q);
        let coef = |i: usize| [xa[i], xa[p + i], xa[2 * p + i], xa[3 * p + i]];
        let mut i = 0;
        while i < p {
            let j0 = if symmetric { i } else { 0 };
            let ys = b0[j0..].iter().zip(&b1[j0..]).zip(&b2[j0..]).zip(&b3[j0..]);
            let c = coef(i);
            if i + 3 < p {
                let (d, e, f) = (coef(i + 1), coef(i + 2), coef(i + 3));
                let (lo, hi) = acc.split_at_mut((i + 1) * q);
                let (h1, hi) = hi.split_at_mut(q);
                let (h2, h3) = hi.split_at_mut(q);
                let o0 = &mut lo[i * q + j0..];
                let (o1, o2, o3) = (&mut h1[j0..], &mut h2[j0..], &mut h3[j0..q]);
                for ((((u0, u1), u2), u3), (((&y0, &y1), &y2), &y3)) in
                    o0.iter_mut().zip(o1).zip(o2).zip(o3).zip(ys)
                {
                    *u0 += c[0] * y0 + c[1] * y1 + c[2] * y2 + c[3] * y3;
                    *u1 += d[0] * y0 + d[1] * y1 + d[2] * y2 + d[3] * y3;
                    *u2 += e[0] * y0 + e[1] * y1 + e[2] * y2 + e[3] * y3;
                    *u3 += f[0] * y0 + f[1] * y1 + f[2] * y2 + f[3] * y3;
                }
                i += 4;
            } else {
                let o0 = &mut acc[i * q + j0..(i + 1) * q];
                for (u, (((&y0, &y1), &y2), &y3)) in o0.iter_mut().zip(ys) {
                    *u += c[0] * y0 + c[1] * y1 + c[2] * y2 + c[3] * y3;
                }
                i += 1;
            }
        }
        r += m;
    }
}

/// Eigen-decomposition `A = Vᵀ diag(λ) V` of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricEigen {
    /// Eigenvalues in descending order.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as **rows**: row `i` belongs to `values[i]`; each row's entry of
    /// largest magnitude (the first on exact ties) is positive.
    pub vectors: Matrix,
}

/// Symmetric eigen-decomposition of `(A + Aᵀ)/2` by faer's self-adjoint solver (Householder
/// tridiagonalisation, then implicit QR below 128 rows and divide and conquer above).
///
/// Convention, so that results are reproducible: eigenvalues in descending order (equal values
/// in the order faer returns them); eigenvector signs normalised so that each vector's entry of
/// largest magnitude (the first on exact ties) is positive. faer runs sequentially
/// (`Par::Seq`), so the bits do not depend on the thread count; faer chooses its SIMD kernels
/// at run time, so another CPU family may differ in the last bits.
pub fn symmetric_eigen(a: &Matrix) -> Result<SymmetricEigen, LinalgError> {
    let n = check_square(a)?;
    let (s, u) = faer_evd(a, true)?;
    let order = descending(&s);
    let values = order.iter().map(|&i| s[i]).collect();
    let mut data = Vec::with_capacity(n * n);
    for &i in &order {
        let col = u.col(i);
        let mut big = 0;
        for k in 1..n {
            if col[k].abs() > col[big].abs() {
                big = k;
            }
        }
        let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
        data.extend((0..n).map(|k| sign * col[k]));
    }
    Ok(SymmetricEigen {
        values,
        vectors: Matrix::new(n, n, data)?,
    })
}

/// Eigenvalues of a symmetric matrix in descending order: [`symmetric_eigen`] without the
/// eigenvectors (faer's tridiagonal QR on the values alone; equal to the full decomposition's
/// values to rounding, about `1e-15·‖A‖₂`, but not bit for bit above 128 rows).
pub fn symmetric_eigenvalues(a: &Matrix) -> Result<Vec<f64>, LinalgError> {
    check_square(a)?;
    let (s, _) = faer_evd(a, false)?;
    Ok(descending(&s).iter().map(|&i| s[i]).collect())
}

/// The order of a finite square matrix.
fn check_square(a: &Matrix) -> Result<usize, LinalgError> {
    if a.cols != a.rows {
        return Err(LinalgError::NotSquare {
            rows: a.rows,
            cols: a.cols,
        });
    }
    a.check_finite()?;
    Ok(a.rows)
}

/// faer's eigenvalues (ascending) and, with `vectors`, eigenvectors as columns of `(A + Aᵀ)/2`,
/// sequentially.
fn faer_evd(a: &Matrix, vectors: bool) -> Result<(Vec<f64>, faer::Mat<f64>), LinalgError> {
    use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
    let n = a.rows;
    let sym = faer::Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (a.data[i * n + j] + a.data[j * n + i]));
    let mut s = faer::diag::Diag::<f64>::zeros(n);
    let m = if vectors { n } else { 0 };
    let mut u = faer::Mat::<f64>::zeros(m, m);
    let compute = if vectors {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let mut mem = faer::dyn_stack::MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        compute,
        faer::Par::Seq,
        Default::default(),
    ));
    self_adjoint_evd(
        sym.as_ref(),
        s.as_mut(),
        vectors.then(|| u.as_mut()),
        faer::Par::Seq,
        faer::dyn_stack::MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|_| LinalgError::NoConvergence)?;
    Ok(((0..n).map(|i| s[i]).collect(), u))
}

/// Indices of `s` by descending value, equal values by index.
fn descending(s: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
    order
}

/// Singular values of `A` in descending order, as `sqrt(max(λ, 0))` of the eigenvalues of the
/// smaller Gram matrix (`AᵀA` or `AAᵀ`). Singular values far below `‖A‖₂` carry an absolute
/// error of about `sqrt(ε)·‖A‖₂`.
pub fn singular_values(a: &Matrix) -> Result<Vec<f64>, LinalgError> {
    a.check_finite()?;
    let gram = if a.rows >= a.cols {
        gram_centered(a, None)
    } else {
        gram_centered(&a.transpose(), None)
    };
    Ok(symmetric_eigenvalues(&gram)?
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .collect())
}

/// Nuclear (trace) norm `‖A‖_* = Σ σ_i(A)`, via [`singular_values`].
pub fn nuclear_norm(a: &Matrix) -> Result<f64, LinalgError> {
    Ok(singular_values(a)?.iter().sum())
}

/// The rows of `m` minus `mean`, as a faer matrix (for faer's blocked products and eigen
/// solvers).
pub(crate) fn centred_faer(m: &Matrix, mean: &[f64]) -> faer::Mat<f64> {
    faer::Mat::from_fn(m.rows(), m.cols(), |i, j| m.row(i)[j] - mean[j])
}

/// `c cᵀ` (rows × rows), sequential.
pub(crate) fn row_gram(c: faer::MatRef<f64>) -> faer::Mat<f64> {
    let mut g = faer::Mat::<f64>::zeros(c.nrows(), c.nrows());
    faer::linalg::matmul::matmul(
        g.as_mut(),
        faer::Accum::Replace,
        c,
        c.transpose(),
        1.0,
        faer::Par::Seq,
    );
    g
}

/// The smaller of `cᵀc` and `c cᵀ` (they share their nonzero eigenvalues, the squared singular
/// values of `c`), sequential.
pub(crate) fn smaller_gram(c: faer::MatRef<f64>) -> faer::Mat<f64> {
    if c.ncols() <= c.nrows() {
        row_gram(c.transpose())
    } else {
        row_gram(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_matrix(rows: usize, cols: usize, seed: u64) -> Matrix {
        let mut s = seed;
        let data = (0..rows * cols)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect();
        Matrix::new(rows, cols, data).unwrap()
    }

    #[test]
    fn constructors_validate_shapes() {
        let m = Matrix::from_f32(2, 2, &[1.5, -2.0, 0.1, 4.0]).unwrap();
        assert_eq!(m[(1, 0)], f64::from(0.1f32));
        assert_eq!(m.row(0), &[1.5, -2.0]);
        assert!(matches!(
            Matrix::from_f32(2, 3, &[1.0; 5]),
            Err(LinalgError::DataLength { len: 5, .. })
        ));
        assert!(matches!(
            Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0]]),
            Err(LinalgError::RaggedRows { row: 1, .. })
        ));
        assert_eq!(m.transpose().transpose(), m);
        assert_eq!(m.centered().column_means(), vec![0.0, 0.0]);
        assert_eq!(m.select_rows(&[1, 1]).row(1), m.row(1));
    }

    #[test]
    fn cross_product_matches_transpose_matmul() {
        let a = lcg_matrix(1203, 7, 1);
        let b = lcg_matrix(1203, 5, 2);
        let fast = cross_product(&a, &b).unwrap();
        let slow = a.transpose().matmul(&b).unwrap();
        for (x, y) in fast.as_slice().iter().zip(slow.as_slice()) {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
        let mu_a = a.column_means();
        let mu_b = b.column_means();
        let c = cross_product_centered(&a, Some(&mu_a), &b, Some(&mu_b)).unwrap();
        let slow = a.centered().transpose().matmul(&b.centered()).unwrap();
        for (x, y) in c.as_slice().iter().zip(slow.as_slice()) {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
        assert!(cross_product(&a, &lcg_matrix(3, 5, 1)).is_err());
    }

    #[test]
    fn gram_and_simd_dispatch_agree_bitwise_with_portable_kernel() {
        let a = lcg_matrix(1031, 11, 3);
        let b = lcg_matrix(1031, 6, 4);
        let mu = a.column_means();
        for (sym, other) in [(false, &b), (true, &a)] {
            let q = other.cols;
            let mut portable = vec![0.0; 11 * q];
            let mut dispatched = vec![0.0; 11 * q];
            cross_chunk(&a, Some(&mu), other, None, 0..1031, &mut portable, sym);
            cross_chunk_dispatch(&a, Some(&mu), other, None, 0..1031, &mut dispatched, sym);
            assert_eq!(portable, dispatched);
        }
        let g = gram_centered(&a, Some(&mu));
        let c = cross_product_centered(&a, Some(&mu), &a, Some(&mu)).unwrap();
        for i in 0..11 {
            for j in 0..11 {
                assert_eq!(g[(i, j)], g[(j, i)]);
                if i <= j {
                    assert_eq!(g[(i, j)], c[(i, j)]);
                }
            }
        }
    }

    #[test]
    fn eigen_reconstructs_and_is_orthonormal() {
        for &n in &[1usize, 2, 3, 10, 40, 150] {
            let x = lcg_matrix(n + 3, n, n as u64);
            let a = cross_product(&x, &x).unwrap();
            let eig = symmetric_eigen(&a).unwrap();
            assert!(eig.values.windows(2).all(|w| w[0] >= w[1]));
            let v = &eig.vectors;
            // V Vᵀ = I
            let vvt = v.matmul(&v.transpose()).unwrap();
            let id = Matrix::identity(n);
            for (x, y) in vvt.as_slice().iter().zip(id.as_slice()) {
                assert!((x - y).abs() < 1e-12);
            }
            // A = Vᵀ diag(λ) V
            let mut dv = v.clone();
            for i in 0..n {
                let l = eig.values[i];
                dv.row_mut(i).iter_mut().for_each(|t| *t *= l);
            }
            let rec = v.transpose().matmul(&dv).unwrap();
            let scale = a.frobenius_norm();
            for (x, y) in rec.as_slice().iter().zip(a.as_slice()) {
                assert!((x - y).abs() < 1e-12 * scale.max(1.0));
            }
        }
    }

    #[test]
    fn eigen_of_known_matrices() {
        let a = Matrix::from_rows(&[[2.0, 1.0], [1.0, 2.0]]).unwrap();
        let eig = symmetric_eigen(&a).unwrap();
        assert!((eig.values[0] - 3.0).abs() < 1e-14);
        assert!((eig.values[1] - 1.0).abs() < 1e-14);
        let v0 = eig.vectors.row(0);
        assert!((v0[0].abs() - 0.5f64.sqrt()).abs() < 1e-14);
        assert!((v0[0] - v0[1]).abs() < 1e-14);
        // Diagonal input with repeated and zero eigenvalues.
        let mut d = Matrix::zeros(4, 4);
        for (i, v) in [0.0, 5.0, 5.0, -1.0].iter().enumerate() {
            d[(i, i)] = *v;
        }
        let eig = symmetric_eigen(&d).unwrap();
        assert_eq!(eig.values, vec![5.0, 5.0, 0.0, -1.0]);
        // Sign convention: the entry of largest magnitude is positive.
        let a = Matrix::from_rows(&[[1.0, -2.0], [-2.0, 1.0]]).unwrap();
        let eig = symmetric_eigen(&a).unwrap();
        assert!((eig.values[0] - 3.0).abs() < 1e-14);
        let v0 = eig.vectors.row(0);
        assert!(v0[0] > 0.0 && (v0[0] + v0[1]).abs() < 1e-14, "{v0:?}");
        let a = Matrix::from_rows(&[[4.0, 0.0], [0.0, 1.0]]).unwrap();
        let v = symmetric_eigen(&a.transpose().matmul(&a).unwrap())
            .unwrap()
            .vectors;
        assert_eq!(v.as_slice(), &[1.0, 0.0, 0.0, 1.0]);
        assert!(symmetric_eigen(&Matrix::zeros(2, 3)).is_err());
        let mut bad = Matrix::identity(2);
        bad[(0, 1)] = f64::NAN;
        assert!(symmetric_eigen(&bad).is_err());
    }

    #[test]
    fn eigen_does_not_depend_on_the_thread_count() {
        let x = lcg_matrix(300, 200, 9);
        let a = gram_centered(&x, Some(&x.column_means()));
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| symmetric_eigen(&a).unwrap());
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| symmetric_eigen(&a).unwrap());
        assert_eq!(one, four);
    }

    #[test]
    fn singular_values_of_scaled_orthogonal_and_rank_one() {
        // [[3, 0], [0, -2], [0, 0]] has singular values 3, 2.
        let a = Matrix::from_rows(&[[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]]).unwrap();
        let s = singular_values(&a).unwrap();
        assert!((s[0] - 3.0).abs() < 1e-14 && (s[1] - 2.0).abs() < 1e-14);
        assert!((nuclear_norm(&a.transpose()).unwrap() - 5.0).abs() < 1e-14);
        // Rank one u vᵀ: nuclear norm = ‖u‖‖v‖.
        let a = Matrix::from_rows(&[[1.0, 2.0, 2.0], [2.0, 4.0, 4.0]]).unwrap();
        let nn = nuclear_norm(&a).unwrap();
        assert!((nn - 5f64.sqrt() * 3.0).abs() < 1e-7);
    }
}
