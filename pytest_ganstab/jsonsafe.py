"""Values as strict JSON takes them, for every file the package writes (sessions, trace facts)."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON takes it: NaN and ±inf as None (a diverged run must still be written),
    numpy and 0-d tensor scalars as Python numbers, dict keys as strings."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
