"""Model classes from public GAN packages, run the README's ways: handed to ``train`` as your own G and
D, and trained in your own loop under ``ganstab.monitor``. Each package's tests skip, saying why, where
the package is not installed; nothing in the packages is patched.

- pytorch-gan-zoo (``ganzoo``): DCGAN generator and discriminator for 32×32 images; needs no torchvision,
  so it installs beside the project (``pip install pytorch-gan-zoo==0.0.6``) and CI runs these tests.
- torchgan: DCGAN and conditional GAN; it imports torchvision, whose PyPI build must match torch exactly
  (torch 2.14.1 + torchvision 0.29.1): ``tox -e thirdparty`` builds that venv and runs this file.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_ganstab as gs

IMAGES = gs.toy("blobs9", size=32, channels=3)  # the packages' 3×32×32 images, nine known modes
NZ = 32
RECIPE = gs.recipe("nonsaturating", latent_dim=NZ, batch_size=32, g_lr=2e-4, d_lr=2e-4, betas=(0.5, 0.999))


def image_loop(generator: Any, discriminator: Any, latent_shape: tuple[int, ...]) -> Any:
    """The README's own-loop shape, with a package's modules: BCE on D's logits, Adam, batch 32."""

    def loop(monitor: gs.Monitor) -> None:
        g, d = generator(), discriminator()
        opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        monitor.watch(g, d, opt_g, opt_d)
        for _ in range(monitor.steps or 1):
            real = IMAGES.sample(32).reshape(32, 3, 32, 32)
            fake = g(torch.randn(32, *latent_shape))
            d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            F.softplus(-d(fake)).mean().backward()
            opt_g.step()

    return loop


def assert_trained(run: gs.Run, steps: int) -> None:
    assert run.steps == steps and (run.first_nonfinite_step == -1).all()
    assert run.trace["d_auc"].between(0, 1).all() and (run.trace["g_signal"] > 0).all()
    assert run.samples(16).shape == (run.n_seeds, 16, 3 * 32 * 32)
    assert {f.check for f in run.diagnose()} >= {"divergence", "discriminator_dominance", "gradients"}


# --- pytorch-gan-zoo -----------------------------------------------------------------------------------


def ganzoo() -> Any:
    return pytest.importorskip(
        "ganzoo.nn_modules.dcgan_nets",
        reason="pytorch-gan-zoo is not installed (pip install pytorch-gan-zoo==0.0.6)",
    )


def test_ganzoo_dcgan_trains_as_your_own_g_and_d() -> None:
    nets = ganzoo()
    run = gs.train(
        RECIPE,
        IMAGES,
        seeds=2,
        steps=6,
        generator=lambda: nets.DCGAN_Generator(NZ, 8, 32, 3),
        discriminator=lambda: nets.DCGAN_Discriminator(32, 3, 8, "linear"),
    )
    assert_trained(run, 6)


def test_ganzoo_dcgan_in_your_own_loop() -> None:
    nets = ganzoo()
    loop = image_loop(
        lambda: nets.DCGAN_Generator(NZ, 8, 32, 3),
        lambda: nets.DCGAN_Discriminator(32, 3, 8, "linear"),
        (NZ, 1, 1),
    )
    assert_trained(gs.monitor(loop, seeds=2, steps=5, data=IMAGES), 5)


def test_ganzoos_sigmoid_discriminator_is_named_with_the_fix() -> None:
    nets = ganzoo()
    run = gs.train(
        RECIPE,
        IMAGES,
        seeds=2,
        steps=6,
        generator=lambda: nets.DCGAN_Generator(NZ, 8, 32, 3),
        discriminator=lambda: nets.DCGAN_Discriminator(32, 3, 8, "sigmoid"),
    )
    assert run.sigmoid_d and any("remove the final nn.Sigmoid" in note for note in run.notes)


# --- torchgan --------------------------------------------------------------------------------------


def torchgan() -> Any:
    return pytest.importorskip(
        "torchgan.models",
        reason="torchgan is not installed: it needs torchvision built for this torch; run tox -e thirdparty",
    )


def test_torchgan_dcgan_in_your_own_loop() -> None:
    models = torchgan()
    loop = image_loop(
        lambda: models.DCGANGenerator(encoding_dims=NZ, out_size=32, out_channels=3, step_channels=8),
        lambda: models.DCGANDiscriminator(
            in_size=32, in_channels=3, step_channels=8, last_nonlinearity=nn.Identity()
        ),
        (NZ,),
    )
    assert_trained(gs.monitor(loop, seeds=2, steps=5, data=IMAGES), 5)


def test_torchgans_conditional_gan_trains_on_labelled_images() -> None:
    """G(z, y) and D(x, y), the blob position as the class; D's default last layer is a LeakyReLU, so
    its logits come from ``last_nonlinearity=nn.Identity()``."""
    models = torchgan()
    run = gs.train(
        RECIPE,
        IMAGES,
        seeds=2,
        steps=6,
        conditional=True,
        generator=lambda: models.ConditionalGANGenerator(9, encoding_dims=NZ, out_size=32, step_channels=8),
        discriminator=lambda: models.ConditionalGANDiscriminator(
            9, in_size=32, step_channels=8, last_nonlinearity=nn.Identity()
        ),
    )
    assert run.classes == 9
    assert_trained(run, 6)
    assert set(gs.metrics.class_coverage(run.samples(90), run.sample_labels(90), IMAGES)["seed"]) == {0, 1}
