"""The Dirac-GAN's edges. Eigenvalues and convergence by method are shown in suites/test_phenomena.py."""

from __future__ import annotations

import pytest

from pytest_ganstab.dirac import DiracGAN, converges


def test_wgan_gp_generator_stops_away_from_the_data() -> None:
    # The penalty γ(|ψ| − 1)² makes (0, 0) no stationary point: D is pushed off ψ = 0, and the generator
    # settles away from the data instead of on it.
    trajectory = DiracGAN("wgan-gp").simulate(steps=1000, lr=0.1, n_critic=5)
    assert not converges(trajectory)
    assert trajectory["theta"].abs().iloc[-100:].min() > 0.5


def test_wgan_gp_has_no_jacobian_at_the_equilibrium() -> None:
    with pytest.raises(ValueError, match="not differentiable"):
        DiracGAN("wgan-gp").jacobian()


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="unknown Dirac-GAN method 'sgd'"):
        DiracGAN("sgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gamma=0"):
        DiracGAN("r1", gamma=0)
    with pytest.raises(ValueError, match="steps=0"):
        DiracGAN("gan").simulate(steps=0)
