"""The Dirac-GAN (Mescheder et al. 2018): the smallest game that shows why GAN training oscillates.

Data is δ₀, the generator is δ_θ and the discriminator is D(x) = ψx: two parameters, so the training
dynamics can be simulated exactly and the Jacobian of the gradient field at the equilibrium (0, 0) can
be compared with its closed form. Unregularised GAN and WGAN have purely imaginary eigenvalues there
(no convergence); zero-centred penalties (R1/R2) and instance noise add damping and converge; WGAN-GP
pushes |ψ| towards 1 and keeps θ moving. ``convergence_table`` puts every method under both update
schemes (alternating: D steps, then G from D's new value; simultaneous: both from the same point) side by
side: whether a simulated trajectory converges, where it ends, and the eigenvalues that decide it.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

Method = Literal["gan", "wgan", "wgan-gp", "r1", "r2", "instance-noise"]
METHODS: tuple[Method, ...] = ("gan", "wgan", "wgan-gp", "r1", "r2", "instance-noise")
Scheme = Literal["alternating", "simultaneous"]
SCHEMES: tuple[Scheme, ...] = ("alternating", "simultaneous")
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(40)  # exact expectations over Gaussian instance noise


def _f(t: torch.Tensor) -> torch.Tensor:
    """The GAN's f(t) = −log(1 + e^(−t)); f′(0) = ½ and f″(0) = −¼."""
    return -F.softplus(-t)


@dataclass(frozen=True)
class DiracGAN:
    """One training method on the Dirac-GAN. ``gamma`` weighs the penalties, ``noise`` is the instance
    noise's sd, ``clip`` bounds |ψ| for WGAN."""

    method: Method = "gan"
    gamma: float = 1.0
    noise: float = 1.0
    clip: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown Dirac-GAN method {self.method!r}; known: {', '.join(METHODS)}")
        for key in ("gamma", "noise", "clip"):
            if not getattr(self, key) > 0:
                raise ValueError(f"DiracGAN: {key}={getattr(self, key)!r} must be positive")

    def objective(self, theta: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """L(θ, ψ), which D maximises and G minimises (regularisers excluded)."""
        if self.method in ("wgan", "wgan-gp"):
            return psi * theta
        if self.method == "instance-noise":
            eps = torch.as_tensor(_NODES * math.sqrt(2) * self.noise, dtype=theta.dtype)
            weights = torch.as_tensor(_WEIGHTS / math.sqrt(math.pi), dtype=theta.dtype)
            return (weights * (_f(psi * (theta + eps)) + _f(-psi * eps))).sum()
        return _f(psi * theta) + _f(torch.zeros_like(psi))

    def d_regulariser(self, psi: torch.Tensor) -> torch.Tensor:
        """What D subtracts from its objective. ∇ₓD = ψ everywhere, so R1 and R2 are both γ/2·ψ²."""
        if self.method in ("r1", "r2"):
            return 0.5 * self.gamma * psi**2
        if self.method == "wgan-gp":
            return self.gamma * (psi.abs() - 1) ** 2
        return torch.zeros_like(psi)

    def vector_field(self, theta: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """(θ̇, ψ̇): G descends L, D ascends L minus its regulariser. Partial derivatives: each holds the other
        player fixed, even when, as in an alternating step, ψ was computed from θ. Differentiable in turn
        (``torch.func.grad``) when either input is, so Jacobians of the field and of a step go through it."""
        if theta.requires_grad or psi.requires_grad:
            d_theta = torch.func.grad(lambda t: self.objective(t, psi))(theta)
            d_psi = torch.func.grad(lambda p: self.objective(theta, p) - self.d_regulariser(p))(psi)
            return torch.stack((-d_theta, d_psi))
        # Plain values (a simulation): both partials from one backward pass through independent leaves.
        theta, psi = theta.detach().requires_grad_(True), psi.detach().requires_grad_(True)
        d_theta, d_psi = torch.autograd.grad(
            self.objective(theta, psi) - self.d_regulariser(psi), (theta, psi)
        )
        return torch.stack((-d_theta, d_psi))

    def jacobian(self) -> torch.Tensor:
        """The Jacobian of the gradient field at the equilibrium (0, 0)."""
        if self.method == "wgan-gp":
            raise ValueError(
                "the WGAN-GP penalty γ(|ψ| − 1)² is not differentiable at ψ = 0: simulate it instead"
            )
        point = torch.zeros(2, dtype=torch.float64)
        jacobian: torch.Tensor = torch.autograd.functional.jacobian(  # type: ignore[no-untyped-call]
            lambda p: self.vector_field(p[0], p[1]), point
        )
        return jacobian

    def eigenvalues(self) -> list[complex]:
        """The eigenvalues of the gradient field's Jacobian at the equilibrium, sorted."""
        return _sorted(torch.linalg.eigvals(self.jacobian()))

    def closed_form_eigenvalues(self) -> list[complex]:
        """docs/design.md §4: ±i·f′(0) unregularised; −γ/2 ± √(γ²/4 − f′(0)²) with a zero-centred penalty;
        σ²f″(0) ± √(σ⁴f″(0)² − f′(0)²) with instance noise of sd σ (Mescheder et al. 2018)."""
        slope = 1.0 if self.method == "wgan" else 0.5
        if self.method in ("gan", "wgan"):
            damping = 0.0
        elif self.method in ("r1", "r2"):
            damping = -self.gamma / 2
        elif self.method == "instance-noise":
            damping = -0.25 * self.noise**2
        else:
            raise ValueError("WGAN-GP has no Jacobian at the equilibrium (see jacobian())")
        root = cmath.sqrt(damping**2 - slope**2)
        return sorted((damping - root, damping + root), key=lambda z: (z.real, z.imag))

    def simulate(
        self,
        steps: int = 2000,
        lr: float = 0.1,
        start: tuple[float, float] = (1.0, 1.0),
        n_critic: int = 1,
        scheme: Scheme = "alternating",
    ) -> pd.DataFrame:
        """Gradient steps from ``start``, one row per step. ``alternating``: ``n_critic`` D steps, then one G
        step at D's new value; ``simultaneous``: D and G step together from the same point (one D step)."""
        if steps < 1 or n_critic < 1 or not lr > 0:
            raise ValueError(f"simulate: steps={steps} and n_critic={n_critic} must be ≥ 1, lr={lr} positive")
        if scheme not in SCHEMES:
            raise ValueError(f"simulate: unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
        if scheme == "simultaneous" and n_critic != 1:
            raise ValueError("simulate: simultaneous updates take one D step per G step (n_critic=1)")
        point = torch.tensor(start, dtype=torch.float64)
        rows = []
        for step in range(steps):
            point = self._step(point, lr, scheme, n_critic)
            rows.append((step, float(point[0]), float(point[1])))
        frame = pd.DataFrame(rows, columns=["step", "theta", "psi"])
        frame["distance"] = np.hypot(frame["theta"], frame["psi"])
        return frame

    def _step(self, point: torch.Tensor, lr: float, scheme: Scheme, n_critic: int = 1) -> torch.Tensor:
        """One training step from ``point`` = (θ, ψ); differentiable, so its Jacobian is the update's."""
        theta, psi = point[0], point[1]
        if scheme == "simultaneous":
            field = self.vector_field(theta, psi)
            theta, psi = theta + lr * field[0], self._clip(psi + lr * field[1])
        else:
            for _ in range(n_critic):
                psi = self._clip(psi + lr * self.vector_field(theta, psi)[1])
            theta = theta + lr * self.vector_field(theta, psi)[0]
        return torch.stack((theta, psi))

    def _clip(self, psi: torch.Tensor) -> torch.Tensor:
        return psi.clamp(-self.clip, self.clip) if self.method == "wgan" else psi

    def update_eigenvalues(self, lr: float = 0.1, scheme: Scheme = "alternating") -> list[complex]:
        """The eigenvalues of one step's Jacobian at the equilibrium: steps of size ``lr`` converge near it
        exactly when all lie inside the unit circle. Simultaneous steps: 1 + lr·λ for each eigenvalue λ of
        the gradient field's Jacobian J; alternating ones (one D step, then G at D's new value): the roots
        of z² − (2 + lr·(J₁₁ + J₂₂) + lr²·J₁₂J₂₁)z + (1 + lr·J₁₁)(1 + lr·J₂₂), which for
        J = [[0, −c], [c, −γ]] is z² − (2 − lr·γ − lr²c²)z + (1 − lr·γ): on the unit circle when γ = 0."""
        if self.method == "wgan-gp":
            raise ValueError(
                "the WGAN-GP penalty γ(|ψ| − 1)² is not differentiable at ψ = 0: simulate it instead"
            )
        point = torch.zeros(2, dtype=torch.float64)
        jacobian: torch.Tensor = torch.autograd.functional.jacobian(  # type: ignore[no-untyped-call]
            lambda p: self._step(p, lr, scheme), point
        )
        return _sorted(torch.linalg.eigvals(jacobian))


def convergence_table(
    steps: int = 1500,
    lr: float = 0.1,
    start: tuple[float, float] = (1.0, 1.0),
    gamma: float = 1.0,
    noise: float = 1.0,
) -> pd.DataFrame:
    """Every method under both update schemes, one D step per G step, one row each: ``method``, ``scheme``,
    ``converges`` (the simulated trajectory's last tenth stays within 1e-2 of the equilibrium),
    ``final_distance`` (from the equilibrium after ``steps`` steps of size ``lr`` from ``start``),
    ``eigenvalues`` (of the gradient field's Jacobian at the equilibrium, the same for both schemes),
    ``update_eigenvalues`` (of one step's Jacobian there) and ``spectral_radius`` (their largest modulus:
    below 1, the scheme converges near the equilibrium). WGAN-GP has no Jacobian at the equilibrium: its
    eigenvalues are empty and its radius NaN."""
    rows = []
    for method in METHODS:
        game = DiracGAN(method, gamma=gamma, noise=noise)
        field = [] if method == "wgan-gp" else game.eigenvalues()
        for scheme in SCHEMES:
            trajectory = game.simulate(steps=steps, lr=lr, start=start, scheme=scheme)
            update = [] if method == "wgan-gp" else game.update_eigenvalues(lr, scheme)
            rows.append(
                {
                    "method": method,
                    "scheme": scheme,
                    "converges": converges(trajectory),
                    "final_distance": float(trajectory["distance"].iloc[-1]),
                    "eigenvalues": field,
                    "update_eigenvalues": update,
                    "spectral_radius": max((abs(z) for z in update), default=math.nan),
                }
            )
    return pd.DataFrame(rows)


def _sorted(values: torch.Tensor) -> list[complex]:
    return sorted((complex(v) for v in values), key=lambda z: (z.real, z.imag))


def converges(trajectory: pd.DataFrame, tolerance: float = 1e-2) -> bool:
    """Whether a simulated trajectory ends within ``tolerance`` of the equilibrium and stays there."""
    tail = trajectory["distance"].iloc[-max(1, len(trajectory) // 10) :]
    return bool(tail.max() < tolerance)
