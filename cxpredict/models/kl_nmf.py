"""Kullback-Leibler NMF of a sparse matrix by multiplicative updates: the topic model's factorisation.

Why not scikit-learn's NMF(beta_loss="kullback-leibler", solver="mu"): the updates and the stopping rule are the
same (and so are the topics, `tests/models/test_kl_nmf.py`), but scikit-learn computes W @ H at the non-zeros of
X in Python-level batches, which made the topic fit and the weighing of every text most of the text stage's time.
Here each update is one compiled pass over X's non-zeros (numba, cached on disk like explain/treeshap.py): W @ H
at the non-zero, the ratio X / (W @ H) and its product with the other factor, with no temporary of X's size.

Initialisation is NNDSVDa (Boutsidis & Gallopoulos 2008, zeros filled with the mean of X) from scikit-learn's
public randomized SVD, as scikit-learn's `init="nndsvda"`.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from cxpredict import threads

EPSILON = np.finfo(np.float32).eps  # scikit-learn's floor for W @ H and for a zero denominator
CHECK_EVERY = 10  # iterations between two evaluations of the divergence (the stopping rule), as scikit-learn


def _nndsvda(X: sp.csr_matrix, k: int, seed: int, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative double SVD: each singular pair's dominant sign part; zeros filled with X's mean."""
    U, S, V = randomized_svd(X, k, random_state=seed)
    W, H = np.zeros_like(U), np.zeros_like(V)
    W[:, 0], H[0] = np.sqrt(S[0]) * np.abs(U[:, 0]), np.sqrt(S[0]) * np.abs(V[0])
    for j in range(1, k):
        x, y = U[:, j], V[j]
        xp, yp, xn, yn = np.maximum(x, 0), np.maximum(y, 0), np.abs(np.minimum(x, 0)), np.abs(np.minimum(y, 0))
        norms = [np.linalg.norm(v) for v in (xp, yp, xn, yn)]
        mp, mn = norms[0] * norms[1], norms[2] * norms[3]
        u, v, sigma = (xp / norms[0], yp / norms[1], mp) if mp > mn else (xn / norms[2], yn / norms[3], mn)
        scale = np.sqrt(S[j] * sigma)
        W[:, j], H[j] = scale * u, scale * v
    W[W < eps], H[H < eps] = 0, 0
    avg = X.sum() / (X.shape[0] * X.shape[1])
    W[W == 0], H[H == 0] = avg, avg
    return W, H


@numba.njit(cache=True, nogil=True)
def _four_dots(A, a, B, b0, b1, b2, b3):
    """A[a] . B[b] for four b at once: independent chains of additions the CPU overlaps (one chain alone waits on
    each addition), each summed in index order, so the same bits as one at a time."""
    wh0 = wh1 = wh2 = wh3 = 0.0
    for c in range(A.shape[1]):
        x = A[a, c]
        wh0 += x * B[b0, c]
        wh1 += x * B[b1, c]
        wh2 += x * B[b2, c]
        wh3 += x * B[b3, c]
    return wh0, wh1, wh2, wh3


@numba.njit(cache=True, nogil=True, parallel=True)
def _numerator(indptr, indices, data, A, B, eps):
    """For X compressed along A's rows (CSR with A = W, B = H.T; CSC with A = H.T, B = W): row a of the result is
    the sum over X's non-zeros x at (a, b) of x / max(A[a] . B[b], eps) * B[b], i.e. (X / (W @ H)) @ H.T or
    ((X / (W @ H)).T @ W, with W @ H taken at the non-zeros only. One pass, rows in parallel, each row's sum in
    index order: the result never depends on the threads. Four non-zeros at a time (_four_dots)."""
    n, k = A.shape
    out = np.zeros((n, k))
    for a in numba.prange(n):
        p, stop = indptr[a], indptr[a + 1]
        while p + 3 < stop:
            b0, b1, b2, b3 = indices[p], indices[p + 1], indices[p + 2], indices[p + 3]
            wh0, wh1, wh2, wh3 = _four_dots(A, a, B, b0, b1, b2, b3)
            r0, r1 = data[p] / max(wh0, eps), data[p + 1] / max(wh1, eps)
            r2, r3 = data[p + 2] / max(wh2, eps), data[p + 3] / max(wh3, eps)
            for c in range(k):
                o = out[a, c]
                o += r0 * B[b0, c]
                o += r1 * B[b1, c]
                o += r2 * B[b2, c]
                o += r3 * B[b3, c]
                out[a, c] = o
            p += 4
        for q in range(p, stop):
            b = indices[q]
            wh = 0.0
            for c in range(k):
                wh += A[a, c] * B[b, c]
            r = data[q] / max(wh, eps)
            for c in range(k):
                out[a, c] += r * B[b, c]
    return out


@numba.njit(cache=True, nogil=True)
def _kl_part(indptr, indices, data, W, Ht, eps):
    """sum of x log(x / (W @ H)) over X's non-zeros above eps (W @ H floored at eps), in index order; four
    non-zeros at a time (_four_dots)."""
    n, k = W.shape
    total = 0.0
    for i in range(n):
        p, stop = indptr[i], indptr[i + 1]
        while p + 3 < stop:
            j0, j1, j2, j3 = indices[p], indices[p + 1], indices[p + 2], indices[p + 3]
            wh0, wh1, wh2, wh3 = _four_dots(W, i, Ht, j0, j1, j2, j3)
            for x, wh in ((data[p], wh0), (data[p + 1], wh1), (data[p + 2], wh2), (data[p + 3], wh3)):
                if x > eps:
                    total += x * np.log(x / max(wh, eps))
            p += 4
        for q in range(p, stop):
            x = data[q]
            if x > eps:
                j = indices[q]
                wh = 0.0
                for c in range(k):
                    wh += W[i, c] * Ht[j, c]
                total += x * np.log(x / max(wh, eps))
    return total


class _Pattern:
    """X's non-zeros by row (CSR) and by column (CSC), for W @ H at exactly those places (compiled kernels)."""

    def __init__(self, X: sp.csr_matrix):
        self.X = X.tocsr().astype(np.float64)
        self.X.sum_duplicates()
        self.X.sort_indices()
        self._rows = (self.X.indptr.astype(np.int64), self.X.indices.astype(np.int64), self.X.data)

    @functools.cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """By column, made when H is updated (a fit), not for `transform`, which keeps H."""
        C = self.X.tocsc()
        C.sort_indices()
        return C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data

    def w_numerator(self, W: np.ndarray, H: np.ndarray) -> np.ndarray:
        return _numerator(*self._rows, W, np.ascontiguousarray(H.T), EPSILON)

    def h_numerator(self, W: np.ndarray, H: np.ndarray) -> np.ndarray:
        return _numerator(*self._columns, np.ascontiguousarray(H.T), W, EPSILON).T

    def divergence(self, W: np.ndarray, H: np.ndarray) -> float:
        """sqrt(2 * generalised KL(X || W @ H)), scikit-learn's convergence measure."""
        x = self.X.data
        res = _kl_part(*self._rows, W, np.ascontiguousarray(H.T), EPSILON) + float(W.sum(axis=0) @ H.sum(axis=1)) \
            - float(x[x > EPSILON].sum())
        return float(np.sqrt(2 * max(res, 0.0)))


def _solve(P: _Pattern, W: np.ndarray, H: np.ndarray, update_h: bool, max_iter: int, tol: float) -> int:
    """Multiplicative updates of W (and H) in place until the divergence gains less than tol (relative to the
    start) over CHECK_EVERY iterations; returns the iterations run."""
    start = previous = P.divergence(W, H)
    h_sum = None
    n = 0
    for n in range(1, max_iter + 1):
        if h_sum is None:
            h_sum = H.sum(axis=1)
            h_sum = np.where(h_sum == 0, EPSILON, h_sum)
        W *= P.w_numerator(W, H) / h_sum[np.newaxis, :]
        if update_h:
            w_sum = W.sum(axis=0)
            w_sum[w_sum == 0] = 1.0
            H *= P.h_numerator(W, H) / w_sum[:, np.newaxis]
            H[H < np.finfo(np.float64).eps] = 0.0
            h_sum = None
        if tol > 0 and n % CHECK_EVERY == 0:
            error = P.divergence(W, H)
            if start == 0 or (previous - error) / start < tol:
                break
            previous = error
    return n


class KLNMF:
    """X ~ W @ H with non-negative factors under the generalised Kullback-Leibler divergence (a PLSA-like fit).
    The scikit-learn estimator's interface as the topic model uses it: fit, transform, components_,
    n_components_, n_iter_."""

    def __init__(self, n_components: int, seed: int = 0, max_iter: int = 400, tol: float = 1e-4):
        self.n_components = n_components
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: sp.csr_matrix, n_threads: int | None = None) -> KLNMF:
        """`n_threads`: numba's threads for the updates (default: the budget); the topic model fits beside other
        work on its share. The factors never depend on it."""
        P = _Pattern(X)
        P._columns  # noqa: B018 (made now: the updates of H read it)
        W, H = _nndsvda(P.X, self.n_components, self.seed)
        with threads.numba_threads(n_threads):
            self.n_iter_ = _solve(P, W, H, True, self.max_iter, self.tol)
        self.components_, self.n_components_ = H, self.n_components
        return self

    def transform(self, X: sp.csr_matrix) -> np.ndarray:
        """Each row's weights on the fitted components (H fixed), from a flat start as scikit-learn's."""
        P = _Pattern(X)
        k = self.n_components_
        avg = np.sqrt(P.X.sum() / (P.X.shape[0] * P.X.shape[1]) / k) if P.X.shape[0] else 0.0
        W = np.full((P.X.shape[0], k), avg)
        if P.X.shape[0]:
            with threads.numba_threads():
                _solve(P, W, self.components_, False, self.max_iter, self.tol)
        return W

    @classmethod
    def of_components(cls, components: np.ndarray, seed: int = 0, max_iter: int = 400, tol: float = 1e-4) -> KLNMF:
        model = cls(len(components), seed, max_iter, tol)
        model.components_, model.n_components_ = np.asarray(components, dtype=np.float64), len(components)
        return model
