"""The user's own GAN: their modules trained by the engine (``build``, ``modules``), and their own training
loop judged through the monitor (``monitoring``, ``seeds``).

``build_user_stacks`` turns one seed's ``nn.Module`` into a ``Stack`` of S seeds (batched with
``torch.func`` where that is exact); ``Monitor`` records the engine's probes from a loop the user wrote,
and ``monitor()`` runs that loop once per seed and merges the seeds into one Run.
"""

from __future__ import annotations

from .build import build_user_stacks, why_not_batched
from .modules import BatchedModules, ModuleLoop, layers_of, pick_score
from .monitoring import Monitor, MonitorError
from .seeds import merge, monitor, seeded

__all__ = [
    "BatchedModules",
    "ModuleLoop",
    "Monitor",
    "MonitorError",
    "build_user_stacks",
    "layers_of",
    "merge",
    "monitor",
    "pick_score",
    "seeded",
    "why_not_batched",
]
