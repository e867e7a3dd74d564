"""k-NN balls of a sample set, the geometry behind precision/recall and density/coverage.

Every answer is exact, and the same on both search paths. A search (scipy's KD-tree in low dimensions,
a matrix product in higher ones, where trees lose) only proposes candidates, with a margin far wider than
its rounding; each decision is then made by one distance, ``exact_distances``, computed the same way on
both paths. So a point that lies exactly on a ball's boundary is treated alike whichever path ran.

Ties follow the metrics' reference code. ``Balls.hit`` (precision and recall) counts a point on the
boundary as inside: ``≤``, as Kynkäänniemi et al. (2019) define it and their code computes it.
``Balls.counts`` (density and coverage) counts it as outside: ``<``, as the prdc package of Naeem et al.
(2020) does (prdc compares with ``<`` for precision and recall too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# k-NN searches use a KD-tree up to this many dimensions and a matrix product above it (trees lose).
KD_TREE_MAX_DIM = 4
# How many nearest centres a k-NN "inside some ball" query checks before falling back to a full search.
HIT_CANDIDATES = 8
# A candidate search looks this much (relatively) beyond a radius: far more than a distance's rounding.
_MARGIN = 1e-9
_TINY = 1e-150  # its square is still a normal float: scipy compares squared distances
_EPS = float(np.finfo(np.float64).eps)
# Pairs whose exact distance is computed at once: bounds the memory of ``exact_distances``.
_CHUNK_VALUES = 1 << 22


def exact_distances(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """‖a[rows[i]] − b[cols[i]]‖ for each pair i, in float64: the square root of the squared coordinate
    differences summed in coordinate order. Every k-NN decision is made by this one computation."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, _CHUNK_VALUES // max(1, a.shape[1]))
    for start in range(0, len(rows), step):
        diff = a[rows[start : start + step]] - b[cols[start : start + step]]
        total = np.zeros(len(diff), dtype=np.float64)
        for column in diff.T:
            total += column * column
        out[start : start + step] = np.sqrt(total)
    return out


class Balls:
    """The k-NN balls of a sample set: around each point, out to its k-th nearest other point.

    ``radii[i]`` is the (k+1)-th smallest exact distance from point i to the set (itself included, at 0),
    as prdc and Kynkäänniemi et al. compute it; a duplicate of a point is a neighbour at distance 0.
    """

    def __init__(self, centers: np.ndarray, k: int) -> None:
        self.centers = np.ascontiguousarray(centers, dtype=np.float64)
        self.k = k
        self.tree: Any = None
        if self.centers.shape[1] <= KD_TREE_MAX_DIM:
            from scipy.spatial import cKDTree

            self.tree = cKDTree(self.centers)
            distances, _ = self.tree.query(self.centers, k + 1, workers=-1)
            rough = np.asarray(distances)[:, k]
            rows, cols = _ball_pairs(self.tree, self.centers, rough)
        else:
            squared, tolerance = _squared_distances(self.centers, self.centers)
            rough_sq = squared.kthvalue(k + 1, dim=1).values
            # Every point whose exact distance is within the exact radius is a candidate: the radius moves
            # by at most the tolerance, and so does each distance.
            limit = rough_sq[:, None] + 2 * tolerance
            rows, cols = (index.numpy() for index in torch.nonzero(squared <= limit, as_tuple=True))
        self.radii = _kth_smallest(
            exact_distances(self.centers, self.centers, rows, cols), rows, k, len(centers)
        )
        self.reach = float(self.radii.max())
        self._lifted: Any = None

    def hit(self, queries: np.ndarray) -> np.ndarray:
        """For each query, whether it lies in at least one ball, its boundary included (``≤``)."""
        queries = np.ascontiguousarray(queries, dtype=np.float64)
        if self.tree is None:
            return np.asarray(self._decide(queries, inclusive=True).any(axis=1))
        # Most queries are settled by the balls of their few nearest centres: inside one of them, or
        # farther than the largest radius from all of them. Only the rest need the full search.
        nearest = min(HIT_CANDIDATES, len(self.centers))
        bound = self.reach * (1 + _MARGIN) + _TINY
        distances, index = self.tree.query(queries, nearest, distance_upper_bound=bound, workers=-1)
        distances, index = distances.reshape(len(queries), -1), index.reshape(len(queries), -1)
        radii = np.append(self.radii, -1.0)  # a missing neighbour (index n) contains nothing
        near = distances <= radii[index] * (1 + _MARGIN) + _TINY
        rows, slot = np.nonzero(near)
        cols = index[rows, slot]
        inside = np.zeros(len(queries), dtype=bool)
        inside[rows[exact_distances(queries, self.centers, rows, cols) <= self.radii[cols]]] = True
        unsettled = np.flatnonzero(~inside & np.isfinite(distances[:, -1]))
        if unsettled.size:
            inside[unsettled] = self._lifted_hit(queries[unsettled])
        return inside

    def _lifted_hit(self, queries: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        # Lift each centre by √(R² − r²) in one extra coordinate: ‖q − c‖ ≤ r becomes ‖q' − c'‖ ≤ R, so
        # the balls that may hold q are the lifted centres within R of it (the margin absorbs the lift's
        # rounding); the exact distance then decides.
        if self._lifted is None:
            lift = np.sqrt(np.maximum(self.reach**2 - self.radii**2, 0.0))
            self._lifted = cKDTree(np.column_stack((self.centers, lift)))
        flat = np.column_stack((queries, np.zeros(len(queries))))
        found = self._lifted.query_ball_point(flat, self.reach * (1 + _MARGIN) + _TINY, workers=-1)
        rows, cols = _flatten(found)
        inside = np.zeros(len(queries), dtype=bool)
        inside[rows[exact_distances(queries, self.centers, rows, cols) <= self.radii[cols]]] = True
        return inside

    def counts(self, points: np.ndarray) -> np.ndarray:
        """For each ball, how many ``points`` lie strictly inside it (``<``: the boundary is outside)."""
        points = np.ascontiguousarray(points, dtype=np.float64)
        if self.tree is None:
            return np.asarray(self._decide(points, inclusive=False).sum(axis=0))
        from scipy.spatial import cKDTree

        rows, cols = _ball_pairs(cKDTree(points), self.centers, self.radii)  # rows: balls, cols: points
        inside = exact_distances(self.centers, points, rows, cols) < self.radii[rows]
        return np.bincount(rows[inside], minlength=len(self.centers))

    def _decide(self, queries: np.ndarray, *, inclusive: bool) -> np.ndarray:
        """``[queries, balls]``: whether each query lies in each ball, from the matrix product where its
        rounding cannot change the answer and from ``exact_distances`` where it could."""
        squared, tolerance = _squared_distances(queries, self.centers)
        radii_sq = torch.from_numpy(self.radii**2)
        tolerance += 4 * _EPS * float(radii_sq.max())  # the rounding of r² itself
        gap = squared.sub_(radii_sq[None, :])  # d² − r², in place
        inside = (gap < -tolerance).numpy()
        rows, cols = (index.numpy() for index in torch.nonzero(gap.abs_() <= tolerance, as_tuple=True))
        exact = exact_distances(queries, self.centers, rows, cols)
        inside[rows, cols] = exact <= self.radii[cols] if inclusive else exact < self.radii[cols]
        return inside


def nearest_distances(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query, the exact distance to its nearest point of ``points`` (finite); ∞ for a query with a
    non-finite coordinate. Candidates come from the same searches as the balls', the distance from
    ``exact_distances``."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    queries = np.ascontiguousarray(queries, dtype=np.float64)
    out = np.full(len(queries), np.inf)
    finite = np.flatnonzero(np.isfinite(queries).all(axis=1))
    if not finite.size:
        return out
    chosen = queries[finite]
    if points.shape[1] <= KD_TREE_MAX_DIM:
        from scipy.spatial import cKDTree

        tree = cKDTree(points)
        rough, _ = tree.query(chosen, 1, workers=-1)
        rows, cols = _ball_pairs(tree, chosen, np.asarray(rough))
    else:
        squared, tolerance = _squared_distances(chosen, points)
        limit = squared.min(dim=1, keepdim=True).values + 2 * tolerance
        rows, cols = (index.numpy() for index in torch.nonzero(squared <= limit, as_tuple=True))
    nearest = np.full(len(chosen), np.inf)
    np.minimum.at(nearest, rows, exact_distances(chosen, points, rows, cols))
    out[finite] = nearest
    return out


def _squared_distances(a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances ``[len(a), len(b)]`` by the matrix product ‖a‖² + ‖b‖² − 2a·b (float64), and per row
    of ``a`` a bound on their rounding error: far more than a dot product's worst case, (dim + 2)·ε·(‖a‖² +
    ‖b‖²), taken at the largest ‖b‖²."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    norm_a, norm_b = (ta * ta).sum(1)[:, None], (tb * tb).sum(1)[None, :]
    squared = torch.addmm(norm_b, ta, tb.T, alpha=-2).add_(norm_a).clamp_(min=0)
    tolerance = 8 * (a.shape[1] + 2) * _EPS * (norm_a + float(norm_b.max())) + _TINY
    return squared, tolerance


def _ball_pairs(tree: Any, centers: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, tree point) pairs whose distance may be within the centre's radius: a superset."""
    found = tree.query_ball_point(centers, radii * (1 + _MARGIN) + _TINY, workers=-1)
    return _flatten(found)


def _flatten(found: Any) -> tuple[np.ndarray, np.ndarray]:
    """``query_ball_point``'s lists as flat (row, index) arrays."""
    lengths = np.fromiter((len(hits) for hits in found), dtype=np.int64, count=len(found))
    rows = np.repeat(np.arange(len(found), dtype=np.int64), lengths)
    cols = np.fromiter((j for hits in found for j in hits), dtype=np.int64, count=int(lengths.sum()))
    return rows, cols


def _kth_smallest(values: np.ndarray, rows: np.ndarray, k: int, n: int) -> np.ndarray:
    """Per row, the (k+1)-th smallest of its ``values`` (each row has more than k, itself among them)."""
    order = np.lexsort((values, rows))
    starts = np.searchsorted(rows[order], np.arange(n))
    return np.asarray(values[order][starts + k], dtype=np.float64)
