"""The failing baselines that suites/test_phenomena.py shows and suites/test_remedies.py treats.

One definition for both: the suites train a run once per session and share it (``SharedRuns`` in
conftest.py), keyed by its recipe, so the two suites must build their baselines from the same settings.
"""

# A D that out-trains its G: 5 critic steps at 10× G's learning rate, and 4× G's width.
STRONG_D = {"batch_size": 128, "g_width": 32, "d_width": 128, "n_critic": 5, "d_lr": 1e-3}
# A 4-layer D of 256 units against a 1-layer G of 16, and the same G against a D of its own size.
MISMATCH = {"batch_size": 128, "g_width": 16, "g_depth": 1, "d_width": 256, "d_depth": 4}
MATCHED = {"batch_size": 128, "width": 16, "depth": 1}
# Converged settings for cause 5: Adam with betas (0.5, 0.999), width 64.
CONVERGED = {"width": 64, "betas": (0.5, 0.999)}
# G at 20× D's rate, held, on ring8 for 4,000 steps: G collapses onto one mode at high quality (or leaves
# the data), at settings where one rate, decayed, converges.
FAST_G = {**CONVERGED, "batch_size": 128, "g_lr": 2e-2, "d_lr": 1e-3}
COLLAPSE_STEPS = 4000
