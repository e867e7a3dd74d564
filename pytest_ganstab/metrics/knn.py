"""k-NN balls of a sample set, the geometry behind precision/recall and density/coverage.

Every answer is exact: low dimensions use scipy's KD-tree (n log n), higher ones brute force.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# k-NN searches use a KD-tree up to this many dimensions and exact brute force above it (trees lose).
KD_TREE_MAX_DIM = 4
# How many nearest centres a k-NN "inside some ball" query checks before falling back to an exact search.
HIT_CANDIDATES = 8


class Balls:
    """The k-NN balls of a sample set: around each point, out to its k-th nearest other point.

    Every answer is exact; low dimensions use scipy's KD-tree (n log n), higher ones brute force.
    """

    def __init__(self, centers: np.ndarray, k: int) -> None:
        self.centers = centers
        self.tree: Any = None
        if centers.shape[1] <= KD_TREE_MAX_DIM:
            from scipy.spatial import cKDTree

            self.tree = cKDTree(centers)
            distances, _ = self.tree.query(centers, k + 1, workers=-1)
            self.radii = np.asarray(distances[:, k])
        else:
            self.radii = _distances(centers, centers).kthvalue(k + 1, dim=1).values.numpy()
        self.reach = float(self.radii.max())
        self._lifted: Any = None

    def hit(self, queries: np.ndarray) -> np.ndarray:
        """For each query, whether it lies in at least one ball."""
        if self.tree is None:
            return (_distances(queries, self.centers) <= torch.from_numpy(self.radii)[None, :]).any(1).numpy()
        # Most queries are settled by the balls of their few nearest centres: inside one of them, or
        # farther than the largest radius from all of them. Only the rest need the exact search.
        nearest = min(HIT_CANDIDATES, len(self.centers))
        distances, index = self.tree.query(queries, nearest, distance_upper_bound=self.reach, workers=-1)
        distances, index = distances.reshape(len(queries), -1), index.reshape(len(queries), -1)
        radii = np.append(self.radii, -1.0)  # a missing neighbour (index n) contains nothing
        inside = (distances <= radii[index]).any(1)
        unsettled = np.flatnonzero(~inside & np.isfinite(distances[:, -1]))
        if unsettled.size:
            inside[unsettled] = self._lifted_hit(queries[unsettled])
        return np.asarray(inside, dtype=bool)

    def _lifted_hit(self, queries: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        # Lift each centre by √(R² − r²) in one extra coordinate: ‖q − c‖ ≤ r becomes ‖q' − c'‖ ≤ R,
        # so "inside some ball" is one nearest-neighbour query.
        if self._lifted is None:
            lift = np.sqrt(np.maximum(self.reach**2 - self.radii**2, 0.0))
            self._lifted = cKDTree(np.column_stack((self.centers, lift)))
        flat = np.column_stack((queries, np.zeros(len(queries))))
        bound = self.reach * (1 + 1e-9) + 1e-300  # rounding in the lift must not drop a boundary point
        distances, _ = self._lifted.query(
            flat, 1, distance_upper_bound=np.nextafter(bound, np.inf), workers=-1
        )
        return np.asarray(distances <= bound)

    def counts(self, points: np.ndarray) -> np.ndarray:
        """For each ball, how many ``points`` it holds."""
        if self.tree is None:
            return (_distances(self.centers, points) <= torch.from_numpy(self.radii)[:, None]).sum(1).numpy()
        from scipy.spatial import cKDTree

        return np.asarray(
            cKDTree(points).query_ball_point(self.centers, self.radii, return_length=True, workers=-1)
        )


def _distances(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    # float64: in float32 the matrix-product form loses distances much smaller than the data's norm.
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b))
