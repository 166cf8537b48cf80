"""Strict JSON: what the package writes is valid JSON (no bare ``NaN``/``Infinity``), numpy values included."""

from __future__ import annotations

import json
import math

__all__ = ["dumps", "plain"]


def plain(value):
    """``value`` with numpy scalars and arrays as Python values and non-finite floats as None (JSON ``null``).

    Examples
    --------
    >>> import numpy as np
    >>> from celestialclass.utils.jsonio import plain
    >>> plain({"a": np.float32(0.5), "b": [float("nan"), np.int64(3)], "c": np.array([1.0, np.inf])})
    {'a': 0.5, 'b': [None, 3], 'c': [1.0, None]}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value, **kwargs) -> str:
    """`json.dumps` of `plain` (value), refusing anything that would not be valid JSON.

    Examples
    --------
    >>> from celestialclass.utils.jsonio import dumps
    >>> dumps({"accuracy": float("nan")})
    '{"accuracy": null}'
    """
    return json.dumps(plain(value), allow_nan=False, **kwargs)
