"""The user's own G and D: modules written the way users write them, trained through ``train``.

The correctness anchor is that the batched path (torch.func.vmap over stacked seeds) trains exactly
what the one-seed-at-a-time path trains; the rest checks that foreign modules (a DCGAN with
BatchNorm, an MLP critic with spectral_norm, a D with Dropout) train, say how they ran, and that a
module that cannot work is refused with one clear line.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import pytest_ganstab as ganstab
from pytest_ganstab import user as usermodules
from pytest_ganstab.recipes import Recipe
from pytest_ganstab.run import Run


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """One thread fixes the order of each convolution's sums, so batched and per-seed runs agree to
    float tolerance (with two threads a few of 51,200 outputs differ by ~1e-6)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- Modules as users write them -------------------------------------------------------------------


def mlp_generator() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))


def mlp_discriminator() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))


NZ, NGF, NDF = 16, 16, 16  # the PyTorch DCGAN tutorial's nz=100, ngf=ndf=64, scaled down to 16×16


class Generator(nn.Module):
    """The DCGAN tutorial's generator at 16×16: it takes latents shaped [B, nz, 1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 4, 4, 1, 0, bias=False),  # 4×4
            nn.BatchNorm2d(NGF * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),  # 8×8
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, 1, 4, 2, 1, bias=False),  # 16×16
            nn.Tanh(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)  # type: ignore[no-any-return]


class Discriminator(nn.Module):
    """The tutorial's discriminator without its final Sigmoid: the losses take logits."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, NDF, 4, 2, 1, bias=False),  # 8×8
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),  # 4×4
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, 1, 4, 1, 0, bias=False),  # 1×1
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input).view(-1, 1).squeeze(1)  # type: ignore[no-any-return]


def weights_init(m: nn.Module) -> None:
    """The tutorial's custom initialisation, applied by the user's own factory."""
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.constant_(m.bias, 0)


def make_generator() -> nn.Module:
    return Generator().apply(weights_init)


def make_discriminator() -> nn.Module:
    return Discriminator().apply(weights_init)


class SNCritic(nn.Module):
    """An MLP critic with spectral normalisation on every layer (Miyato et al. 2018)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.fc1 = spectral_norm(nn.Linear(2, width))
        self.fc2 = spectral_norm(nn.Linear(width, width))
        self.out = spectral_norm(nn.Linear(width, 1))
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.fc2(self.act(self.fc1(x)))))  # type: ignore[no-any-return]


CPU_NOTE = usermodules.build.CPU_CONVOLUTIONS
DCGAN = ganstab.recipe(
    "nonsaturating", latent_dim=NZ, batch_size=32, g_lr=1e-3, d_lr=1e-3, betas=(0.5, 0.999)
)
SMALL = {"batch_size": 64}


def one_seed_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``train`` take the fallback path for every user module."""
    build = usermodules.build_user_stacks

    def looped(*args: Any, **kwargs: Any) -> Any:
        return build(*args, **kwargs, batch=False)

    monkeypatch.setattr(usermodules, "build_user_stacks", looped)


def assert_same_training(a: Run, b: Run) -> None:
    """Equal traces up to float rounding. D's AUC counts score pairs, so a rounding-level difference
    can flip one near-tie: it is held to a few pairs of the batch instead."""
    np.testing.assert_allclose(numbers(a), numbers(b), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.trace["d_auc"], b.trace["d_auc"], atol=4 / a.recipe.batch_size**2)


def numbers(run: Run) -> np.ndarray:
    return run.trace.drop(columns=["seed", "step", "nonfinite", "d_auc"]).to_numpy()


def nearest_modes(run: Run, n: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance of each final sample to its nearest mode centre, and that mode: ``[S, n]`` each."""
    assert run.toy.centers is not None
    samples = run.samples(n)
    distances = torch.cdist(samples, run.toy.centers.expand(samples.shape[0], -1, -1))
    return distances.min(-1)


# --- The batched path equals the one-seed-at-a-time path -------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "steps"),
    [("nonsaturating", 20), ("wgan", 4), ("wgan-gp", 4)],  # plain; weight clipping; double backward
)
def test_plain_mlp_pair_is_batched_and_trains_exactly_like_one_seed_at_a_time(
    recipe: str, steps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> Run:
        return ganstab.train(
            ganstab.recipe(recipe, **SMALL),
            "ring8",
            seeds=3,
            steps=steps,
            generator=mlp_generator,
            discriminator=mlp_discriminator,
        )

    batched = run()
    one_seed_at_a_time(monkeypatch)
    looped = run()

    assert batched.notes == []
    assert looped.notes == [
        "generator Sequential: seeds ran one after another (batch=False)",
        "discriminator Sequential: seeds ran one after another (batch=False)",
    ]
    assert_same_training(batched, looped)
    torch.testing.assert_close(batched.samples(200), looped.samples(200), rtol=1e-4, atol=1e-6)
    assert [c for c in batched.trace.columns if c.startswith("d_grad_norm.")] == [
        "d_grad_norm.0",
        "d_grad_norm.2",
        "d_grad_norm.4",
    ]


def test_dcgan_with_batchnorm_is_batched_and_keeps_running_stats_per_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BatchNorm's running statistics are stacked buffers that vmap updates in place per seed: the
    batched DCGAN matches the looped one in trace, samples and every seed's running statistics."""

    def run() -> Run:
        return ganstab.train(
            DCGAN, "blobs9", seeds=2, steps=4, generator=make_generator, discriminator=make_discriminator
        )

    batched = run()
    one_seed_at_a_time(monkeypatch)
    looped = run()

    assert batched.notes == [CPU_NOTE.format(modules="generator Generator and discriminator Discriminator")]
    assert_same_training(batched, looped)
    # Convolutions sum in a CPU-dependent order: on an AMD EPYC 12 of 51,200 outputs differ by up to 5e-6.
    torch.testing.assert_close(batched.samples(100), looped.samples(100), rtol=1e-4, atol=1e-5)
    g_batched, g_looped = batched.nets.generator, looped.nets.generator
    assert isinstance(g_batched, usermodules.BatchedModules)
    assert isinstance(g_looped, usermodules.ModuleLoop)
    for name in ("main.1.running_mean", "main.1.running_var", "main.4.num_batches_tracked"):
        per_seed = torch.stack([dict(m.named_buffers())[name] for m in g_looped.modules])
        torch.testing.assert_close(g_batched.buffers[name], per_seed, rtol=1e-4, atol=1e-6)
    assert int(g_batched.buffers["main.4.num_batches_tracked"][0]) > 4  # updated by every call, not once


# --- Foreign modules train, and say how they ran ---------------------------------------------------


def test_dcgan_learns_the_blob_images_without_collapsing() -> None:
    """150 steps of the DCGAN pair on 16×16 blob images, 2 seeds.

    What is honest to ask of so short a CPU run: samples are not yet high quality (within 20 sd of a
    blob image takes thousands of steps), but they move from noise to blob-like images (the median
    distance to the nearest blob image falls to under half that of the untrained G) and spread over
    the positions (no seed puts all its samples on 1 or 2 of the 9 blobs). D's AUC stays a number.
    """
    untrained = ganstab.train(
        DCGAN, "blobs9", seeds=2, steps=1, generator=make_generator, discriminator=make_discriminator
    )
    run = ganstab.train(
        DCGAN, "blobs9", seeds=2, steps=150, generator=make_generator, discriminator=make_discriminator
    )

    assert isinstance(run.nets.generator, usermodules.BatchedModules)
    assert isinstance(run.nets.discriminator, usermodules.BatchedModules)
    assert (run.first_nonfinite_step == -1).all()
    assert run.trace["d_auc"].between(0, 1).all()
    assert {"g_grad_norm.main.0", "g_grad_norm.main.1", "d_grad_norm.main.5"} <= set(run.trace.columns)
    start, _ = nearest_modes(untrained)
    end, modes = nearest_modes(run)
    assert (end.median(1).values < 0.5 * start.median(1).values).all()
    for seed_modes in modes:
        shares = torch.bincount(seed_modes, minlength=9) / seed_modes.numel()
        assert int((shares >= 0.03).sum()) >= 5, shares


def test_spectral_norm_critic_falls_back_says_why_and_trains() -> None:
    """Hinge loss with a spectral-norm MLP critic on a ring of 8 (sd 0.05), Adam (0, 0.9) as in the
    SN-GAN papers, 250 steps, 2 seeds.

    Spectral-norm parametrizations cannot run under vmap, so D's seeds run one after another and the
    note says so once. Sane after so short a run: no seed diverges, D does not dominate at the end
    (AUC below 0.99), samples sit near the ring (median distance to the unit circle below 0.25; the
    untrained G's is about 0.85) and no seed has collapsed (at least 6 of the 8 modes each get 3 % of
    the samples, by nearest centre).
    """
    toy = ganstab.toy("ring", std=0.05)
    recipe = ganstab.recipe("hinge-sn", batch_size=64, g_lr=2e-3, d_lr=2e-3, betas=(0.0, 0.9))
    run = ganstab.train(recipe, toy, seeds=2, steps=250, generator=mlp_generator, discriminator=SNCritic)

    assert run.notes == [
        "discriminator SNCritic: seeds ran one after another "
        "(spectral_norm on fc1: torch.func.vmap cannot run parametrized modules)"
    ]
    assert isinstance(run.nets.generator, usermodules.BatchedModules)
    assert [c for c in run.trace.columns if c.startswith("d_grad_norm.")] == [
        "d_grad_norm.fc1",
        "d_grad_norm.fc2",
        "d_grad_norm.out",
    ]
    assert (run.first_nonfinite_step == -1).all()
    final = run.trace[run.trace["step"] == run.steps - 1]
    assert (final["d_auc"] < 0.99).all()
    samples = run.samples(500)
    assert ((samples.norm(dim=-1) - 1).abs().median(1).values < 0.25).all()
    _, modes = nearest_modes(run)
    for seed_modes in modes:
        shares = torch.bincount(seed_modes, minlength=8) / seed_modes.numel()
        assert int((shares >= 0.03).sum()) >= 6, shares


def test_batch_true_refuses_what_vmap_cannot_run() -> None:
    recipe = ganstab.recipe("hinge-sn")
    toy = ganstab.toy("ring8")
    with pytest.raises(
        ValueError, match=r"discriminator SNCritic: .*cannot be batched.*spectral_norm on fc1"
    ):
        usermodules.build_user_stacks(None, SNCritic, recipe, toy, 0, [0, 1], torch.device("cpu"), batch=True)


class DropoutCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


def test_dropout_falls_back_and_seed_k_still_depends_only_on_k() -> None:
    """Dropout draws random numbers: the seeds run one after another, each call of seed k under a
    torch seed from (seed k's key, call count), so seed 1 trains the same beside seed 0 or alone;
    and the caller's own torch RNG is left as it was."""
    recipe = ganstab.recipe("nonsaturating", **SMALL)
    rng_before = torch.get_rng_state()
    pair = ganstab.train(
        recipe, "ring8", seeds=[0, 1], steps=8, generator=mlp_generator, discriminator=DropoutCritic
    )
    alone = ganstab.train(
        recipe, "ring8", seeds=[1], steps=8, generator=mlp_generator, discriminator=DropoutCritic
    )

    assert torch.equal(torch.get_rng_state(), rng_before)
    assert pair.notes == [
        "discriminator DropoutCritic: seeds ran one after another "
        "(Dropout at net.2 draws random numbers, which vmap cannot draw reproducibly per seed)"
    ]
    np.testing.assert_allclose(numbers(alone), numbers(pair)[pair.trace["seed"] == 1], rtol=1e-5, atol=1e-7)
    assert not np.allclose(numbers(pair)[pair.trace["seed"] == 0], numbers(pair)[pair.trace["seed"] == 1])


class NoisyCritic(nn.Module):
    """Instance noise (Sønderby et al. 2017) drawn inside D's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x + 0.1 * torch.randn_like(x))  # type: ignore[no-any-return]


class RescalingCritic(nn.Module):
    """Branches on a tensor's value, which vmap cannot batch."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().max() > 10:
            x = x / x.abs().max()
        return self.net(x)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("critic", "reason"),
    [
        (NoisyCritic, "it draws random numbers, which vmap cannot draw reproducibly per seed"),
        (RescalingCritic, "its forward branches on tensor values, which vmap cannot batch"),
    ],
)
def test_what_vmap_refuses_when_tried_falls_back_with_its_reason(
    critic: type[nn.Module], reason: str
) -> None:
    run = ganstab.train(
        ganstab.recipe("nonsaturating", **SMALL), "ring8", seeds=2, steps=3, discriminator=critic
    )
    assert run.notes == [f"discriminator {critic.__name__}: seeds ran one after another ({reason})"]
    assert (run.first_nonfinite_step == -1).all()


def bn_generator() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 2))


def test_batched_seed_k_alone_is_seed_k_among_others_bit_for_bit() -> None:
    """No tolerance, BatchNorm's running statistics included: a seed alone is computed on two copies of
    itself, because vmap over one seed takes other kernels (and rounds otherwise) than over several."""
    recipe = ganstab.recipe("nonsaturating", **SMALL)
    nets = {"generator": bn_generator, "discriminator": mlp_discriminator}
    three = ganstab.train(recipe, "ring8", seeds=3, steps=40, **nets)
    alone = ganstab.train(recipe, "ring8", seeds=[2], steps=40, **nets)
    assert alone.notes == three.notes == []  # both batched
    assert alone.seed_trace(2).equals(three.seed_trace(2))
    for stack in ("generator", "discriminator"):
        mine, theirs = getattr(alone.nets, stack), getattr(three.nets, stack)
        for name, value in {**mine.params, **mine.buffers}.items():
            assert torch.equal(value[0], {**theirs.params, **theirs.buffers}[name][2]), f"{stack} {name}"


def test_an_instance_is_copied_for_every_seed_and_left_untouched() -> None:
    generator = mlp_generator()
    weights = {name: p.detach().clone() for name, p in generator.state_dict().items()}
    run = ganstab.train(
        ganstab.recipe("nonsaturating", **SMALL),
        "ring8",
        seeds=2,
        steps=3,
        generator=generator,
        discriminator=mlp_discriminator,
    )
    assert run.notes == [
        "generator Sequential was given as an instance: every seed starts from its weights "
        "(pass its class or a factory for one initialisation per seed)"
    ]
    for name, value in generator.state_dict().items():
        assert torch.equal(value, weights[name])


def test_only_the_discriminator_replaced_keeps_the_recipes_generator() -> None:
    run = ganstab.train(
        ganstab.recipe("nonsaturating", width=16, depth=1, **SMALL),
        "ring8",
        seeds=2,
        steps=3,
        discriminator=mlp_discriminator,
    )
    assert [c for c in run.trace.columns if "grad_norm." in c] == [
        "g_grad_norm.l0",
        "g_grad_norm.l1",
        "d_grad_norm.0",
        "d_grad_norm.2",
        "d_grad_norm.4",
    ]
    assert (run.first_nonfinite_step == -1).all()


# --- Modules that cannot work are refused with one clear line --------------------------------------


class ThreeChannelGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(NZ, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).view(-1, 3, 16, 16)  # type: ignore[no-any-return]


class NeedsArguments(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(2, width)


def wide_latent_generator() -> nn.Module:
    return nn.Sequential(nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 2))


def two_score_discriminator() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))


def three_input_discriminator() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 1))


BAD = [
    pytest.param(
        "blobs9",
        DCGAN,
        {"generator": ThreeChannelGenerator},
        ValueError,
        "generator ThreeChannelGenerator returned shape [4, 3, 16, 16] per batch of 4 latents; "
        "expected [4, 1, 16, 16] (or [4, 256]) for toy blobs9",
        id="image-of-the-wrong-shape",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"generator": wide_latent_generator},
        ValueError,
        "its first layer 0 takes 100: use recipe(..., latent_dim=100)",
        id="latent-of-the-wrong-size",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"discriminator": two_score_discriminator},
        ValueError,
        "discriminator Sequential returned [4, 2] for a batch of 4 samples shaped [4, 2]; "
        "expected [4] or [4, 1]: one raw score (logit) per sample",
        id="two-scores-per-sample",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"discriminator": three_input_discriminator},
        ValueError,
        "discriminator Sequential failed on a batch of 4 samples shaped [4, 2] (toy ring8): mat1 and mat2",
        id="input-of-the-wrong-size",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"generator": 42},
        TypeError,
        "generator=42: give a torch.nn.Module class",
        id="not-a-module",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"discriminator": lambda: "a critic"},
        TypeError,
        "returned a str, not a torch.nn.Module",
        id="factory-of-something-else",
    ),
    pytest.param(
        "ring8",
        "nonsaturating",
        {"generator": NeedsArguments},
        TypeError,
        "generator=NeedsArguments: calling it with no arguments failed",
        id="class-that-needs-arguments",
    ),
]


@pytest.mark.parametrize(("data", "recipe", "modules", "error", "message"), BAD)
def test_a_module_that_cannot_work_is_refused_with_one_clear_line(
    data: str, recipe: str | Recipe, modules: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as raised:
        ganstab.train(recipe, data, seeds=2, steps=1, **modules)
    assert "\n" not in str(raised.value)


def test_a_wrong_latent_size_says_what_it_tried() -> None:
    with pytest.raises(ValueError) as raised:
        ganstab.train("nonsaturating", "ring8", seeds=1, steps=1, generator=wide_latent_generator)
    assert str(raised.value).startswith(
        "generator Sequential failed on a batch of 4 latents of size 2 (as [4, 2] and as [4, 2, 1, 1]): "
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_dcgan_is_batched_and_dropout_seeds_stay_addressable() -> None:
    run = ganstab.train(
        DCGAN,
        "blobs9",
        seeds=2,
        steps=3,
        device="cuda",
        generator=make_generator,
        discriminator=make_discriminator,
    )
    assert run.notes == []
    assert (run.first_nonfinite_step == -1).all()

    recipe = ganstab.recipe("nonsaturating", **SMALL)
    cuda_rng = torch.cuda.get_rng_state()
    pair = ganstab.train(
        recipe,
        "ring8",
        seeds=[0, 1],
        steps=4,
        device="cuda",
        generator=mlp_generator,
        discriminator=DropoutCritic,
    )
    alone = ganstab.train(
        recipe,
        "ring8",
        seeds=[1],
        steps=4,
        device="cuda",
        generator=mlp_generator,
        discriminator=DropoutCritic,
    )
    assert torch.equal(torch.cuda.get_rng_state(), cuda_rng)
    np.testing.assert_allclose(numbers(alone), numbers(pair)[pair.trace["seed"] == 1], rtol=1e-4, atol=1e-6)


def test_drawing_samples_changes_nothing_and_eval_mode_uses_the_running_statistics() -> None:
    """Train-mode BatchNorm updates its running statistics on every forward pass: sampling must not, or
    every call of ``samples()`` would move the Run it reads. ``eval_mode`` samples as ``G.eval()`` does."""
    nets = {"generator": bn_generator, "discriminator": mlp_discriminator}
    run = ganstab.train(ganstab.recipe("nonsaturating", **SMALL), "ring8", seeds=2, steps=30, **nets)
    generator = run.nets.generator
    assert isinstance(generator, usermodules.modules.BatchedModules)
    kept = {name: buffer.clone() for name, buffer in generator.buffers.items()}
    first, again = run.samples(500), run.samples(500)
    population = run.samples(500, eval_mode=True)
    assert torch.equal(first, again) and not torch.equal(first, population)
    assert all(torch.equal(kept[name], buffer) for name, buffer in generator.buffers.items())
    one_seed = bn_generator()
    one_seed.load_state_dict(
        {name: value[1] for name, value in {**generator.params, **generator.buffers}.items()}
    )
    latents = ganstab.rng.normal(ganstab.rng.seed_keys(0, [1], "cpu"), ganstab.rng.EVAL, (500, 2))[0]
    torch.testing.assert_close(population[1], one_seed.eval()(latents))
