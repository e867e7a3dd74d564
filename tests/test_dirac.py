"""The Dirac-GAN: Jacobian eigenvalues against their closed forms, and which methods converge."""

from __future__ import annotations

import pytest

from pytest_ganstab.dirac import DiracGAN, converges


@pytest.mark.parametrize(
    "game",
    [
        DiracGAN("gan"),
        DiracGAN("wgan"),
        DiracGAN("r1", gamma=0.3),
        DiracGAN("r1", gamma=1.0),
        DiracGAN("r2", gamma=2.0),
        DiracGAN("instance-noise", noise=0.5),
        DiracGAN("instance-noise", noise=3.0),
    ],
    ids=lambda game: f"{game.method}-gamma{game.gamma}-noise{game.noise}",
)
def test_jacobian_eigenvalues_match_the_closed_form(game: DiracGAN) -> None:
    for numeric, closed in zip(game.eigenvalues(), game.closed_form_eigenvalues(), strict=True):
        assert numeric == pytest.approx(closed, abs=1e-6)


def test_unregularised_game_has_purely_imaginary_eigenvalues() -> None:
    assert [z.real for z in DiracGAN("gan").eigenvalues()] == pytest.approx([0.0, 0.0])
    assert sorted(z.imag for z in DiracGAN("gan").eigenvalues()) == pytest.approx([-0.5, 0.5])


@pytest.mark.parametrize(
    ("method", "expected"), [("gan", False), ("wgan", False), ("r1", True), ("instance-noise", True)]
)
def test_which_methods_converge(method: str, expected: bool) -> None:
    assert converges(DiracGAN(method).simulate(steps=1500, lr=0.1)) is expected  # type: ignore[arg-type]


def test_wgan_gp_with_finite_critic_steps_does_not_converge() -> None:
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
