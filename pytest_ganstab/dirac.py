"""The Dirac-GAN (Mescheder et al. 2018): the smallest game that shows why GAN training oscillates.

Data is δ₀, the generator is δ_θ and the discriminator is D(x) = ψx: two parameters, so the training
dynamics can be simulated exactly and the Jacobian of the gradient field at the equilibrium (0, 0) can
be compared with its closed form. Unregularised GAN and WGAN have purely imaginary eigenvalues there
(no convergence); zero-centred penalties (R1/R2) and instance noise add damping and converge; WGAN-GP
pushes |ψ| towards 1 and keeps θ moving.
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
        """(θ̇, ψ̇): G descends L, D ascends L minus its regulariser."""
        # Keep a caller's graph (the Jacobian differentiates through this); make leaves otherwise.
        theta = theta if theta.requires_grad else theta.detach().requires_grad_(True)
        psi = psi if psi.requires_grad else psi.detach().requires_grad_(True)
        (d_theta,) = torch.autograd.grad(self.objective(theta, psi), theta, create_graph=True)
        (d_psi,) = torch.autograd.grad(
            self.objective(theta, psi) - self.d_regulariser(psi), psi, create_graph=True
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
        values = torch.linalg.eigvals(self.jacobian())
        return sorted((complex(v) for v in values), key=lambda z: (z.real, z.imag))

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
        self, steps: int = 2000, lr: float = 0.1, start: tuple[float, float] = (1.0, 1.0), n_critic: int = 1
    ) -> pd.DataFrame:
        """Alternating gradient steps (``n_critic`` D steps, then one G step); one row per step."""
        if steps < 1 or n_critic < 1 or not lr > 0:
            raise ValueError(f"simulate: steps={steps} and n_critic={n_critic} must be ≥ 1, lr={lr} positive")
        theta = torch.tensor(start[0], dtype=torch.float64)
        psi = torch.tensor(start[1], dtype=torch.float64)
        rows = []
        for step in range(steps):
            for _ in range(n_critic):
                psi = (psi + lr * self.vector_field(theta, psi)[1]).detach()
                if self.method == "wgan":
                    psi = psi.clamp(-self.clip, self.clip)
            theta = (theta + lr * self.vector_field(theta, psi)[0]).detach()
            rows.append((step, float(theta), float(psi)))
        frame = pd.DataFrame(rows, columns=["step", "theta", "psi"])
        frame["distance"] = np.hypot(frame["theta"], frame["psi"])
        return frame


def converges(trajectory: pd.DataFrame, tolerance: float = 1e-2) -> bool:
    """Whether a simulated trajectory ends within ``tolerance`` of the equilibrium and stays there."""
    tail = trajectory["distance"].iloc[-max(1, len(trajectory) // 10) :]
    return bool(tail.max() < tolerance)
