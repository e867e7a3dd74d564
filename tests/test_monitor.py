"""The monitor: the engine's probes, recorded from a training loop the user wrote.

The anchor is exactness: the plain reference loop, instrumented with a monitor, records the engine's trace
for the same seed. The rest checks the loops people write (the PyTorch DCGAN tutorial's, with a Sigmoid D
and BCELoss; a loop that adds instance noise; a D returning a tuple; a conditional G), that several seeds
merge into one Run whose seed k depends only on k, and that a loop the monitor cannot read is refused with
what to tell it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_ganstab as gs
from pytest_ganstab.reference import train_reference
from pytest_ganstab.user import Monitor, MonitorError

STEPS = 20
SMALL = {"width": 32, "batch_size": 64}
RING = gs.toy("ring8")


# --- Exactness: the reference loop, instrumented, records the engine's trace -----------------------


@pytest.mark.parametrize(
    "name", ["nonsaturating", "minimax", "lsgan", "hinge-sn", "wgan", "ttur", "label-smoothing", "wgan-gp"]
)
def test_the_monitored_reference_loop_records_the_engines_trace_for_that_seed(name: str) -> None:
    """Seed 1 of a 3-seed engine run and the plain loop trained on seed 1's initialisation and draws,
    watched by a monitor: every probe agrees to float tolerance. The monitor cannot see a penalty the
    loop adds to D's loss without telling it, so ``d_penalty`` is compared only where there is none."""
    rc = gs.recipe(name, **SMALL)
    engine = gs.train(rc, "ring8", seeds=3, steps=STEPS, seed=0).seed_trace(1)
    monitor = Monitor(loss=rc.loss, real_label=rc.real_label, data=RING, seed=1, base_seed=0)
    train_reference(rc, "ring8", steps=STEPS, base_seed=0, index=1, watch=monitor.watch)
    run = monitor.run()

    recorded = run.trace.copy()
    layers = [c for c in engine.columns if "grad_norm." in c]
    assert len(layers) == len([c for c in recorded.columns if "grad_norm." in c])
    recorded.columns = engine.columns  # nn.Sequential's layers "0", "2", … are the engine's l0, l1, …
    compared = [c for c in engine.columns if c not in ("seed", "step", "nonfinite", "d_auc")]
    if rc.gp_weight:
        compared.remove("d_penalty")
    np.testing.assert_allclose(recorded[compared], engine[compared], rtol=1e-5, atol=1e-6)
    # A pair of scores within rounding of a tie may order differently between the two loops (wgan's clipped
    # D scores lie ~1e-3 apart; which pairs tip depends on the CPU's kernels): allow three of B² pairs.
    np.testing.assert_allclose(recorded["d_auc"], engine["d_auc"], atol=3 / rc.batch_size**2)
    assert run.recipe.n_critic == rc.n_critic and (run.recipe.g_lr, run.recipe.d_lr) == (rc.g_lr, rc.d_lr)
    assert not recorded["nonfinite"].any() and run.steps == STEPS


# --- The PyTorch DCGAN tutorial's loop, two added lines --------------------------------------------

NZ = 16


class TutorialGenerator(nn.Module):
    """The tutorial's generator at 16×16, one channel."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, 32, 4, 1, 0, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(True),
            nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)  # type: ignore[no-any-return]


class TutorialDiscriminator(nn.Module):
    """The tutorial's discriminator, final Sigmoid included: its loop uses nn.BCELoss on probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(16, 32, 4, 2, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)  # type: ignore[no-any-return]


BLOBS = gs.toy("blobs9")
IMAGES = BLOBS.sample(512, generator=torch.Generator().manual_seed(0)).reshape(-1, 1, 16, 16)


def tutorial_loop(monitor: Monitor | None, steps: int, losses: list[tuple[float, float]]) -> None:
    """The tutorial's training step as written there (its .item() bookkeeping left out), plus the one
    line the monitor needs. ``losses`` collects the loop's own errD and errG."""
    net_g, net_d = TutorialGenerator(), TutorialDiscriminator()
    criterion = nn.BCELoss()
    optimizer_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if monitor is not None:
        monitor.watch(net_g, net_d, optimizer_g, optimizer_d)  # the added line
    loader = torch.utils.data.DataLoader(IMAGES, batch_size=32, shuffle=True)
    batches = iter(loader)
    for _ in range(steps):
        real = next(batches)
        net_d.zero_grad()
        label = torch.full((real.size(0),), 1.0)
        output = net_d(real).view(-1)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        fake = net_g(torch.randn(real.size(0), NZ, 1, 1))
        label.fill_(0.0)
        output = net_d(fake.detach()).view(-1)
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        optimizer_d.step()
        net_g.zero_grad()
        label.fill_(1.0)
        output = net_d(fake).view(-1)
        err_g = criterion(output, label)
        err_g.backward()
        optimizer_g.step()
        losses.append((float((err_d_real + err_d_fake).detach()), float(err_g.detach())))


def test_the_tutorial_loop_is_read_with_one_added_line_and_its_sigmoid_d_as_probabilities() -> None:
    losses: list[tuple[float, float]] = []
    monitor = Monitor(data=BLOBS)
    tutorial_loop(monitor, 12, losses)
    run = monitor.run()

    assert run.steps == 12 and run.seeds == [0] and run.recipe.batch_size == 32
    assert run.recipe.g_lr == 2e-4 and run.recipe.betas == (0.5, 0.999)
    assert any("read as probabilities" in note for note in run.notes)
    # Read as probabilities, D's recorded losses are the loop's own BCE, and its confidence the outputs.
    np.testing.assert_allclose(run.trace[["d_loss", "g_loss"]].to_numpy(), np.asarray(losses), rtol=1e-4)
    assert run.trace["d_real"].between(0, 1).all() and run.trace["d_auc"].between(0, 1).all()
    assert (run.trace["g_signal"] > 0).all() and not run.trace["nonfinite"].any()
    assert run.samples(64).shape == (1, 64, 256)  # G at its final weights, from the fixed latents
    assert {"discriminator_dominance", "gradients", "divergence", "mode_coverage"} == {
        f.check for f in run.diagnose()
    }


def test_the_monitor_leaves_the_loop_it_watches_unchanged() -> None:
    """Hooks read; they never write: the watched loop trains bit for bit as the bare one."""

    def trained(watch: bool) -> list[tuple[float, float]]:
        torch.manual_seed(5)
        losses: list[tuple[float, float]] = []
        monitor = Monitor() if watch else None
        tutorial_loop(monitor, 6, losses)
        if monitor is not None:
            monitor.run()
        return losses

    assert trained(True) == trained(False)


# --- Loops the hooks cannot read alone, and how to tell the monitor ---------------------------------


def mlp(inputs: int, outputs: int) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, outputs))


def noisy_loop(monitor: Monitor, steps: int, tell: bool) -> None:
    """Instance noise on both of D's inputs: no D call is on G's output itself."""
    g, d = mlp(2, 2), mlp(2, 1)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    monitor.watch(g, d, opt_g, opt_d)
    for _ in range(steps):
        real, fake = RING.sample(64), g(torch.randn(64, 2))
        real_scores = d(real + 0.1 * torch.randn_like(real))
        fake_scores = d(fake.detach() + 0.1 * torch.randn_like(fake))
        if tell:
            monitor.scores(real=real_scores, fake=fake_scores)
        d_loss = F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_scores = d(fake + 0.1 * torch.randn_like(fake))
        if tell:
            monitor.scores(g=g_scores)
        opt_g.zero_grad()
        F.softplus(-g_scores).mean().backward()
        opt_g.step()


def test_a_loop_whose_fakes_d_never_sees_untouched_is_refused_with_what_to_tell_the_monitor() -> None:
    with pytest.raises(MonitorError, match=r"monitor\.scores\(real=d_real_scores, fake=d_fake_scores\)"):
        noisy_loop(Monitor(), 2, tell=False)
    monitor = Monitor(data=RING)
    noisy_loop(monitor, 5, tell=True)
    run = monitor.run()
    assert run.steps == 5 and not run.trace["nonfinite"].any() and (run.trace["g_signal"] > 0).all()


class FeatureCritic(nn.Module):
    """A D that returns (score, features), as feature matching uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Sequential(nn.Linear(2, 32), nn.ReLU()), nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.head(features), features


def simple_loop(
    monitor: Monitor,
    steps: int,
    d: nn.Module | None = None,
    score: Callable[[Any], torch.Tensor] | None = None,
) -> None:
    g, d = mlp(2, 2), d or mlp(2, 1)
    pick = score or (lambda out: out)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    monitor.watch(g, d, opt_g, opt_d)
    for _ in range(steps):
        real, fake = RING.sample(64), g(torch.randn(64, 2))
        d_loss = F.softplus(-pick(d(real))).mean() + F.softplus(pick(d(fake.detach()))).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        F.softplus(-pick(d(fake))).mean().backward()
        opt_g.step()


def test_a_d_returning_a_tuple_is_read_by_its_score() -> None:
    monitor = Monitor(data=RING, score=0)
    simple_loop(monitor, 4, d=FeatureCritic(), score=lambda out: out[0])
    assert not monitor.run().trace["nonfinite"].any()
    with pytest.raises(MonitorError, match=r"score=0"):
        simple_loop(Monitor(data=RING), 1, d=FeatureCritic(), score=lambda out: out[0])


def test_g_stepping_before_any_d_step_is_an_error_that_says_so() -> None:
    g, d = mlp(2, 2), mlp(2, 1)
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    Monitor(g, d, opt_g, opt_d)
    F.softplus(-d(g(torch.randn(8, 2)))).mean().backward()
    with pytest.raises(MonitorError, match="D's optimiser has not stepped yet"):
        opt_g.step()


def test_a_monitor_that_saw_nothing_says_how_to_attach_it() -> None:
    with pytest.raises(MonitorError, match=r"call monitor\.watch\(G, D, g_optimizer, d_optimizer\) first"):
        Monitor().run()
    with pytest.raises(MonitorError, match=r"never called monitor\.watch"):
        gs.monitor(lambda monitor: None, seeds=1)


# --- Several seeds: one Run, seed k depends only on k ------------------------------------------------


def test_several_seeds_merge_into_one_run_and_each_seed_depends_only_on_its_index() -> None:
    def loop(monitor: Monitor) -> None:
        simple_loop(monitor, monitor.steps or 1)

    before = torch.get_rng_state()
    three = gs.monitor(loop, seeds=3, steps=6, seed=4, data=RING)
    alone = gs.monitor(loop, seeds=[2], steps=6, seed=4, data=RING)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random state is left as it was

    assert three.seeds == [0, 1, 2] and three.n_seeds == 3 and three.steps == 6
    assert sorted(three.trace["seed"].unique()) == [0, 1, 2]
    np.testing.assert_allclose(
        alone.seed_trace(2).drop(columns="seed").to_numpy(float),
        three.seed_trace(2).drop(columns="seed").to_numpy(float),
    )
    samples = three.samples(100)
    assert samples.shape == (3, 100, 2) and not torch.equal(samples[0], samples[1])
    torch.testing.assert_close(alone.samples(100)[0], samples[2])
    assert gs.metrics.key_metrics(three)["modes"].notna().all()


def test_an_adamw_loop_with_a_schedule_is_recorded_at_its_starting_rates() -> None:
    def loop(monitor: Monitor) -> None:
        g, d = mlp(2, 2), mlp(2, 1)
        opt_g = torch.optim.AdamW(g.parameters(), lr=1e-3, weight_decay=0.01)
        opt_d = torch.optim.AdamW(d.parameters(), lr=4e-3, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.StepLR(opt_d, step_size=2, gamma=0.5)
        monitor.watch(g, d, opt_g, opt_d)
        for _ in range(4):
            real, fake = RING.sample(32), g(torch.randn(32, 2))
            opt_d.zero_grad()
            (F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()).backward()
            opt_d.step()
            schedule.step()
            opt_g.zero_grad()
            F.softplus(-d(fake)).mean().backward()
            opt_g.step()

    run = gs.monitor(loop, seeds=1, data=RING)
    assert (run.recipe.g_lr, run.recipe.d_lr) == (1e-3, 4e-3)
    assert "AdamW (lr 0.001, weight_decay 0.01, betas (0.9, 0.999)) for G" in run.notes[0]


# --- What the diagnosis says about a user's loop -----------------------------------------------------


def test_a_dominated_loop_at_equal_rates_is_not_blamed_on_a_faster_d_and_gets_techniques_not_recipes() -> (
    None
):
    """One D step per G step at one learning rate: D still wins a ring8 of tight modes in 60 steps with a
    4× wider D. The diagnosis must not say D was trained faster, and a loop cannot switch recipes."""

    def loop(monitor: Monitor) -> None:
        g = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        d = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
        opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
        monitor.watch(g, d, opt_g, opt_d)
        for _ in range(60):
            real, fake = RING.sample(128), g(torch.randn(128, 2))
            opt_d.zero_grad()
            (F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()).backward()
            opt_d.step()
            opt_g.zero_grad()
            F.softplus(-d(fake)).mean().backward()
            opt_g.step()

    run = gs.monitor(loop, seeds=2, data=RING)
    finding = next(f for f in run.diagnose() if f.check == "discriminator_dominance")
    assert not finding.passed and finding.cause is not None
    assert "not trained faster" in finding.cause and "is trained faster" not in finding.cause
    assert "(d_lr 0.001 vs g_lr 0.001, n_critic 1)" in finding.cause
    assert not any(remedy.startswith("recipe(") for remedy in finding.remedies)
    assert "one-sided label smoothing: a real target of 0.9 keeps D from becoming certain" in finding.remedies


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host synchronisation is a CUDA matter; needs CUDA")
def test_on_cuda_the_monitor_never_waits_on_the_device_during_training() -> None:
    """torch's sync debug mode raises on any operation that waits for the GPU: none may run in a step."""
    g, d = mlp(2, 2).cuda(), mlp(2, 1).cuda()
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    monitor = Monitor(g, d, opt_g, opt_d, data=RING)
    centers = RING.centers.cuda()  # type: ignore[union-attr]
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            real = centers[torch.randint(8, (64,), device="cuda")] + 0.01 * torch.randn(64, 2, device="cuda")
            fake = g(torch.randn(64, 2, device="cuda"))
            opt_d.zero_grad()
            (F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()).backward()
            opt_d.step()
            opt_g.zero_grad()
            F.softplus(-d(fake)).mean().backward()
            opt_g.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert monitor.run().steps == 5


class LabelledG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding, self.net = nn.Embedding(8, 4), mlp(6, 2)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((z, self.embedding(y)), 1))  # type: ignore[no-any-return]


class LabelledD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding, self.net = nn.Embedding(8, 4), mlp(6, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((x, self.embedding(y)), 1))  # type: ignore[no-any-return]


def test_a_conditional_loop_is_sampled_at_every_class_and_judged_per_class(tmp_path: Any) -> None:
    def loop(monitor: Monitor) -> None:
        g, d = LabelledG(), LabelledD()
        opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
        monitor.watch(g, d, opt_g, opt_d)
        for _ in range(monitor.steps or 1):
            real, labels = RING.sample_labelled(64)
            fake = g(torch.randn(64, 2), labels)
            opt_d.zero_grad()
            (F.softplus(-d(real, labels)).mean() + F.softplus(d(fake.detach(), labels)).mean()).backward()
            opt_d.step()
            opt_g.zero_grad()
            F.softplus(-d(fake, labels)).mean().backward()
            opt_g.step()

    run = gs.monitor(loop, seeds=2, steps=5, data=RING)
    assert run.classes == 8 and run.sample_labels(9).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    assert run.samples(16).shape == (2, 16, 2)
    finding = gs.metrics.class_coverage(run.samples(400), run.sample_labels(400), RING)
    assert len(finding) == 2 and finding["on_class"].between(0, 1).all()
    page = run.report(tmp_path / "report")  # the report reads a monitored Run as any other
    assert page.exists() and "your loop" in page.read_text(encoding="utf-8")


def test_a_monitored_runs_discriminator_scores_data_as_the_loop_did() -> None:
    monitor = Monitor(data=BLOBS)
    tutorial_loop(monitor, 3, [])
    run = monitor.run()
    scores = run.nets.discriminator(BLOBS.sample(8)[None])  # flat [S, B, 256] in, one score per sample out
    assert scores.shape == (1, 8, 1) and bool(((scores > 0) & (scores < 1)).all())
