"""Strict JSON for everything the project writes: numpy and pandas values to plain Python, NaN,
infinities and missing values to ``null`` (strict parsers, orjson and JavaScript included,
reject ``NaN``). The one answer to "is this JSON-safe?"; cross-cutting like :mod:`.errors`."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd


def json_safe(value):
    """``value`` with numpy scalars and arrays as Python values and non-finite floats or
    missing values (NaN, None, ``pd.NA``, ``NaT``) as None; dicts, lists and tuples recursively
    (tuples become lists, dict keys strings)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def dumps(value, **kwargs) -> str:
    """``json.dumps`` of :func:`json_safe` (``value``), refusing anything still not strict."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
