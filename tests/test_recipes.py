"""Recipes: the standard GANs by name, knobs on any of them, and clear errors for nonsense."""

from __future__ import annotations

import pytest

from pytest_ganstab import Recipe, list_recipes, recipe


def test_every_standard_recipe_is_listed() -> None:
    required = {
        "minimax",
        "nonsaturating",
        "wgan",
        "wgan-gp",
        "lsgan",
        "hinge-sn",
        "nonsaturating-r1",
        "label-smoothing",
        "ttur",
    }
    assert required <= set(list_recipes())


def test_standard_recipes_carry_their_defining_settings() -> None:
    wgan = recipe("wgan")
    assert (wgan.loss, wgan.optimizer, wgan.clip, wgan.n_critic) == ("wgan", "rmsprop", 0.01, 5)
    gp = recipe("wgan-gp")
    assert (gp.gp_weight, gp.n_critic, gp.optimizer) == (10.0, 5, "adam")
    assert recipe("hinge-sn").spectral_norm
    assert recipe("label-smoothing").real_label == 0.9
    assert recipe("ttur").d_lr == 4 * recipe("ttur").g_lr
    assert recipe("nonsaturating-r1").r1_weight > 0
    assert recipe("minimax").loss == "minimax"


def test_knobs_apply_to_any_recipe() -> None:
    tuned = recipe(
        "wgan-gp", n_critic=2, d_width=256, g_width=64, g_residual=True, latent_dim=8, batch_size=32
    )
    assert (tuned.n_critic, tuned.d_width, tuned.g_width, tuned.latent_dim, tuned.batch_size) == (
        2,
        256,
        64,
        8,
        32,
    )
    assert tuned.capacity_ratio == 0.25
    assert recipe("nonsaturating", width=32, depth=2) == recipe(
        "nonsaturating", g_width=32, d_width=32, g_depth=2, d_depth=2
    )


def test_recipes_round_trip_through_plain_data() -> None:
    original = recipe("ttur", betas=[0.0, 0.99])
    assert Recipe.from_dict(original.to_dict()) == original


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'wgan_gp'; known recipes: .*wgan-gp"):
        recipe("wgan_gp")


def test_unknown_knob_lists_the_known_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown knob\(s\) ncritic; known knobs: .*n_critic"):
        recipe("wgan", ncritic=3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_critic": 0}, "n_critic=0 must be an integer of at least 1"),
        ({"d_lr": -1.0}, "d_lr=-1.0 must be a finite positive number, e.g. 1e-4"),
        ({"optimizer": "adamw"}, "optimizer='adamw' is unknown"),
        ({"real_label": 1.5}, r"real_label=1.5 must be a number in \(0, 1\]"),
        ({"clip": 0.0}, "clip=0.0 must be a finite positive number"),
        ({"n_critic": 2.5}, "n_critic=2.5 must be an integer"),
        ({"width": "64"}, "g_width='64' must be an integer"),
        ({"betas": (0.5,)}, r"betas=\(0.5,\) must be two numbers"),
        # Non-finite and non-numeric values are named before any training (issue 13).
        ({"gp_weight": float("nan")}, "gp_weight=nan must be 0 .off. or a finite positive number, e.g. 10"),
        ({"g_lr": float("inf")}, "g_lr=inf must be a finite positive number, e.g. 1e-4"),
        ({"g_lr": "a"}, "g_lr='a' must be a finite positive number"),
        ({"betas": 0.5}, r"betas=0.5 must be two numbers in \[0, 1\), e.g. \(0.5, 0.9\)"),
        ({"betas": (0.5, float("nan"))}, r"betas=\(0.5, nan\) must be two numbers"),
        ({"real_label": "0.9"}, r"real_label='0.9' must be a number in \(0, 1\]"),
        ({"spectral_norm": 1}, "spectral_norm=1 must be True or False"),
        ({"clip": float("inf")}, "clip=inf must be a finite positive number"),
        ({"lr_decay": 0.0}, r"lr_decay=0.0 must be a number in \(0, 1\]"),
        ({"lr_decay": 2}, r"lr_decay=2 must be a number in \(0, 1\]"),
        ({"lr_decay": float("nan")}, r"lr_decay=nan must be a number in \(0, 1\]"),
    ],
)
def test_nonsense_values_name_the_knob(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        recipe("nonsaturating", **overrides)


def test_label_smoothing_only_on_losses_that_have_labels() -> None:
    with pytest.raises(ValueError, match="real_label applies to"):
        recipe("wgan", real_label=0.9)


def test_recipes_name_exactly_the_losses_that_exist() -> None:
    from pytest_ganstab.losses import LOSSES
    from pytest_ganstab.recipes import _LOSS_NAMES

    assert set(_LOSS_NAMES) == set(LOSSES)  # recipes stay torch-free, so the names are kept twice


def test_lr_decay_is_a_linear_schedule_to_that_share_of_both_rates() -> None:
    """``lr_decay=0.1`` trains exactly as torch's LinearLR from 1 to 0.1 over the run's steps, and the
    Run's recipe (so its record and history) says which schedule ran; a second schedule is refused."""
    import torch

    import pytest_ganstab as gs

    small = recipe("nonsaturating", width=8, batch_size=16, g_lr=1e-2, d_lr=1e-2)
    decayed = gs.train(recipe(small, lr_decay=0.1), "ring8", seeds=2, steps=12)
    by_hand = gs.train(
        small,
        "ring8",
        seeds=2,
        steps=12,
        scheduler=lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.1, total_iters=12),
    )
    constant = gs.train(small, "ring8", seeds=2, steps=12)
    assert torch.equal(decayed.samples(64), by_hand.samples(64))
    assert not torch.equal(decayed.samples(64), constant.samples(64))
    assert decayed.recipe.lr_decay == 0.1 and decayed.recipe.to_dict()["lr_decay"] == 0.1
    assert constant.recipe.lr_decay == 1.0
    with pytest.raises(ValueError, match="two lr schedules; give one"):
        gs.train(
            recipe(small, lr_decay=0.1),
            "ring8",
            seeds=1,
            steps=2,
            scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1),
        )


def test_the_plain_reference_loop_refuses_a_decay_it_would_not_apply() -> None:
    from pytest_ganstab.reference import train_reference

    with pytest.raises(ValueError, match=r"lr_decay=0\.1 is not supported by the plain loop"):
        train_reference(recipe("nonsaturating", lr_decay=0.1), "ring8", steps=1)
