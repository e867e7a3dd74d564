"""Counter-based random numbers for stacked seeds.

Every random number the engine draws is a hash of (seed key, stream, index). Seed k's key depends
only on (base seed, k), so seed k sees the same initialisation, noise and data whether it runs alone,
beside 1023 others, on another xdist worker or on another device: a failing seed can be rerun alone.
The hash is a few integer ops on the device, so drawing needs no generator state and no host sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _signed(value: int) -> int:
    """torch has no uint64 arithmetic: keep 64-bit constants as their two's-complement int64."""
    value &= _MASK
    return value - (1 << 64) if value >= 1 << 63 else value


_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)
_GOLDEN_T = _signed(_GOLDEN)
_BELOW_ONE = 1.0 - 2.0**-24  # the largest float32 below 1


def _shr(x: torch.Tensor, bits: int) -> torch.Tensor:
    # int64 >> is arithmetic in torch; the mask makes it the logical shift that splitmix64 needs.
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser: a bijection on 64-bit words with full avalanche."""
    x = (x ^ _shr(x, 30)) * _M1
    x = (x ^ _shr(x, 27)) * _M2
    return x ^ _shr(x, 31)


def _mix_int(value: int) -> int:
    x = value & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def seed_key(base_seed: int, index: int) -> int:
    """The key of seed ``index`` of a run started from ``base_seed``."""
    return _signed(_mix_int(_mix_int(base_seed) + _GOLDEN * (index + 1)))


def check_base_seed(seed: Any, what: str = "seed") -> int:
    """The base seed as an int, or one clear error: it is hashed as 64 bits, so a negative seed would
    silently alias 2⁶⁴ − |seed| (and the pytest option refuses negatives)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{what}={seed!r}: the base seed must be a non-negative integer, e.g. {what}=0")
    if not 0 <= seed < 1 << 63:
        raise ValueError(f"{what}={seed}: the base seed must be a non-negative integer below 2**63, e.g. 0")
    return seed


def seed_indices(seeds: Any) -> list[int]:
    """``seeds=8`` means seeds 0..7; a list picks seeds by index (``seeds=[5]`` reruns seed 5 alone)."""
    if isinstance(seeds, bool | str | bytes) or not isinstance(seeds, int | Sequence):
        raise TypeError(f"seeds={seeds!r}: give a count (seeds=8) or seed indices (seeds=[3, 5])")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds={seeds}: train at least 1 seed (seeds=8 is a good default)")
        return list(range(seeds))
    if any(isinstance(k, bool) or not isinstance(k, int) for k in seeds):
        raise TypeError(f"seeds={list(seeds)!r}: seed indices must be integers, e.g. seeds=[3, 5]")
    indices = [int(k) for k in seeds]
    if not indices or min(indices) < 0 or len(set(indices)) != len(indices):
        raise ValueError(
            f"seeds={list(seeds)!r}: seed indices must be distinct, non-negative, and at least one"
        )
    return indices


def torch_seed(base_seed: int, index: int, purpose: int) -> int:
    """A non-negative ``torch.manual_seed`` value that depends only on (base seed, seed index, purpose):
    for the draws we do not make ourselves (a user's module init, Dropout, their own training loop)."""
    return stream_id(seed_key(base_seed, index), purpose) & 0x7FFF_FFFF_FFFF_FFFF


def seed_keys(base_seed: int, indices: Sequence[int], device: torch.device | str) -> torch.Tensor:
    """Keys for the given seed indices, as an int64 tensor ``[S]`` on ``device``."""
    return torch.tensor([seed_key(base_seed, k) for k in indices], dtype=torch.int64, device=device)


def stream_id(*parts: int) -> int:
    """Fold integers (step, purpose, layer, ...) into one stream id, order-sensitively."""
    acc = 0
    for part in parts:
        acc = _mix_int(acc * 31 + part + _GOLDEN)
    return _signed(acc)


def _bits(keys: torch.Tensor, stream: int, shape: Sequence[int]) -> torch.Tensor:
    count = 1
    for size in shape:
        count *= int(size)
    index = torch.arange(count, dtype=torch.int64, device=keys.device)
    start = _mix(keys + stream)
    return _mix(start[:, None] + index * _GOLDEN_T).reshape(keys.shape[0], *shape)


def uniform(keys: torch.Tensor, stream: int, shape: Sequence[int]) -> torch.Tensor:
    """Uniform floats in the open interval (0, 1), shape ``[S, *shape]``, from 24 bits each."""
    return unit_interval(_shr(_bits(keys, stream, shape), 40).to(torch.float32))


def unit_interval(top24: torch.Tensor) -> torch.Tensor:
    """24-bit integers (as float32) to the centres of 2²⁴ equal cells of (0, 1).

    float32 rounds the last centre, (2²⁴ − ½)/2²⁴, up to 1.0, where ``ndtri`` is +inf: it is kept inside.
    """
    return ((top24 + 0.5) * (1.0 / (1 << 24))).clamp_(max=_BELOW_ONE)


def normal(keys: torch.Tensor, stream: int, shape: Sequence[int]) -> torch.Tensor:
    """Standard normal floats, shape ``[S, *shape]``, by inverting the normal CDF."""
    normals: torch.Tensor = torch.special.ndtri(uniform(keys, stream, shape))
    return normals


# Stream purposes, declared together so that no two draws share a stream. Each random draw of a step has
# its own stream, so none depends on another's size; a plain loop (``reference``) replays a seed's exact
# draws from the same constants.
G_INIT, D_INIT, REAL, LATENT_D, LATENT_G, MIX = range(6)
# The torch seeds of a user's own modules: G's and D's inits (and their forward calls that draw random
# numbers) are independent, so changing one network's definition never changes the other's draws.
USER_G_INIT, USER_D_INIT, USER_G_CALLS, USER_D_CALLS = range(0x6A0, 0x6A4)
# The fixed latents that a Run's samples (and so its mode coverage) are drawn from.
EVAL = stream_id(0x5EED, 0xE7A1)
# Conditional GANs: the class labels G is asked for in D's and G's steps (real labels come with the data).
LABEL_D, LABEL_G = range(6, 8)
# The torch seed a user's own training loop runs under (``Monitor``), and the one a sampling callable
# given as data draws under, per step; the rows held out of a user's data set for the metrics.
USER_LOOP, USER_DATA_CALLS, HOLDOUT = range(0x6A4, 0x6A7)
