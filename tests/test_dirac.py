"""The Dirac-GAN: its edges, and the convergence table of every method under both update schemes, held to
the closed forms of docs/design.md §4. suites/test_phenomena.py shows the same verdicts as phenomena."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import pytest_ganstab as gs
from pytest_ganstab.dirac import METHODS, SCHEMES, DiracGAN, convergence_table, converges


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


# ---------------------------------------------------------------- the convergence table

LR = 0.1
GAMMA = 0.3  # not 1, where R1's two eigenvalues coincide and a numerical solver finds them only to ~1e-8


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return gs.dirac.convergence_table(steps=600, lr=LR, gamma=GAMMA, noise=1.0)


def test_the_dirac_gan_is_reachable_from_the_package_like_every_public_name() -> None:
    assert "dirac" in gs.__all__
    assert gs.dirac.DiracGAN is DiracGAN and gs.dirac.convergence_table is convergence_table


def test_the_table_has_every_method_under_both_update_schemes(table: pd.DataFrame) -> None:
    assert list(table.columns) == [
        "method",
        "scheme",
        "converges",
        "final_distance",
        "eigenvalues",
        "update_eigenvalues",
        "spectral_radius",
    ]
    assert set(zip(table["method"], table["scheme"], strict=True)) == {
        (method, scheme) for method in METHODS for scheme in SCHEMES
    }
    assert len(table) == len(METHODS) * len(SCHEMES)


def test_only_zero_centred_penalties_and_instance_noise_converge_whichever_the_scheme(
    table: pd.DataFrame,
) -> None:
    verdicts = table.groupby("method")["converges"].agg(set).to_dict()
    assert verdicts == {
        "gan": {False},
        "wgan": {False},
        "wgan-gp": {False},
        "r1": {True},
        "r2": {True},
        "instance-noise": {True},
    }
    assert (table.loc[table["converges"], "final_distance"] < 1e-2).all()
    # Alternating GAN steps circle at the starting distance √2; simultaneous ones spiral outwards.
    gan = table[table["method"] == "gan"].set_index("scheme")["final_distance"]
    assert gan["alternating"] == pytest.approx(math.sqrt(2), rel=0.05) and gan["simultaneous"] > 2


def damping(method: str) -> float:
    """J₂₂ of the field's Jacobian J = [[0, −c], [c, J₂₂]] at the equilibrium (docs/design.md §4): −γ for
    R1/R2, 2σ²f″(0) = −σ²/2 for instance noise, 0 unregularised."""
    return {"gan": 0.0, "wgan": 0.0, "r1": -GAMMA, "r2": -GAMMA, "instance-noise": -0.5}[method]


@pytest.mark.parametrize("method", [m for m in METHODS if m != "wgan-gp"])
def test_the_eigenvalues_are_the_closed_forms_and_decide_the_verdict(
    table: pd.DataFrame, method: str
) -> None:
    rows = table[table["method"] == method].set_index("scheme")
    closed = DiracGAN(method, gamma=GAMMA, noise=1.0).closed_form_eigenvalues()  # type: ignore[arg-type]
    c = 1.0 if method == "wgan" else 0.5  # f′(0)
    d = damping(method)
    # The field's eigenvalues are the same under both schemes, and equal the closed forms.
    for scheme in SCHEMES:
        assert rows.loc[scheme, "eigenvalues"] == pytest.approx(closed, abs=1e-9)
    # A simultaneous step is I + lr·J: its eigenvalues are 1 + lr·λ.
    assert rows.loc["simultaneous", "update_eigenvalues"] == pytest.approx(
        [1 + LR * z for z in closed], abs=1e-9
    )
    # An alternating step's are the roots of z² − (2 + lr·J₂₂ − lr²c²)z + (1 + lr·J₂₂).
    roots = np.roots([1, -(2 + LR * d - LR**2 * c**2), 1 + LR * d])
    expected = sorted((complex(z) for z in roots), key=lambda z: (z.real, z.imag))
    assert rows.loc["alternating", "update_eigenvalues"] == pytest.approx(expected, abs=1e-9)
    # Steps converge near the equilibrium exactly when every update eigenvalue is inside the unit circle;
    # unregularised alternating steps sit on it (they circle), simultaneous ones outside (they spiral out).
    for scheme in SCHEMES:
        radius = rows.loc[scheme, "spectral_radius"]
        assert rows.loc[scheme, "converges"] is (radius < 1 - 1e-9)
    if d == 0:
        assert rows.loc["alternating", "spectral_radius"] == pytest.approx(1.0, abs=1e-12)
        assert rows.loc["simultaneous", "spectral_radius"] > 1


def test_wgan_gp_has_no_eigenvalues_in_the_table(table: pd.DataFrame) -> None:
    rows = table[table["method"] == "wgan-gp"]
    assert rows["eigenvalues"].map(len).eq(0).all() and rows["update_eigenvalues"].map(len).eq(0).all()
    assert rows["spectral_radius"].isna().all()


def test_a_simultaneous_step_takes_one_d_step_and_a_scheme_must_be_known() -> None:
    with pytest.raises(ValueError, match="simultaneous updates take one D step"):
        DiracGAN("gan").simulate(steps=5, n_critic=5, scheme="simultaneous")
    with pytest.raises(ValueError, match="unknown scheme 'jacobi'"):
        DiracGAN("gan").simulate(steps=5, scheme="jacobi")  # type: ignore[arg-type]
