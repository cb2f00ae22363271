"""One range of one column (:class:`Range`), as code and as the test-case schema writes it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._values import CLOSURES, check_level, format_value, range_mask, split_level

#: Bounds of a range written as a mapping (the test-case schema's ``where``).
BOUNDS = ("<", "<=", ">", ">=", "min", "max")
_CLOSURE_OF = {(True, True): "both", (True, False): "left", (False, True): "right",
               (False, False): "neither"}


class SliceError(ValueError, KeyError):
    """A slice is malformed or names what the data does not have (a column, a category).

    ``field`` says which part, in the test-case schema's terms (``"where.<column>"``,
    ``"categories"``, ``"tags"``). Both a ValueError and a KeyError: an unknown name was a
    KeyError before there was a Slice, and callers catch it as one."""

    def __init__(self, message: str, field: str | None = None):
        self.field, self.reason = field, message
        super().__init__(message)

    def __str__(self) -> str:
        return self.reason


def _number(value, field) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
            not math.isfinite(float(value)):
        raise SliceError(f"expected a finite number, got {value!r}", field)
    return float(value)


def parse_bounds(spec, field: str | None = None) -> tuple[float, float, bool, bool]:
    """``(lo, hi, lo_inclusive, hi_inclusive)`` of a range as the test-case schema writes it.

    ``[lo, hi]``: ``lo <= v <= hi`` (``None`` for an open end), or a mapping of bounds among
    ``"<"``, ``"<="``, ``">"``, ``">="``, ``min`` (``>=``) and ``max`` (``<=``), e.g.
    ``{">=": 32, "<": 96}``. Open ends are -inf / +inf. A lower bound above the upper one is
    a :class:`SliceError` ("empty range"), as is anything else.
    """
    lo, hi, lo_inc, hi_inc = -math.inf, math.inf, True, True
    if isinstance(spec, (list, tuple)):
        if len(spec) != 2:
            raise SliceError(f"a range list needs 2 entries [lo, hi], got {spec!r}", field)
        if spec[0] is not None:
            lo = _number(spec[0], field)
        if spec[1] is not None:
            hi = _number(spec[1], field)
    elif isinstance(spec, dict) and spec:
        for key, value in spec.items():
            if key not in BOUNDS:
                raise SliceError(f"unknown bound {key!r}; use one of {', '.join(BOUNDS)}",
                                 field)
            v = _number(value, f"{field}.{key}")
            if key in (">", ">=", "min"):
                if v > lo or (v == lo and key == ">"):
                    lo, lo_inc = v, key != ">"
            elif v < hi or (v == hi and key == "<"):
                hi, hi_inc = v, key != "<"
    elif isinstance(spec, dict):
        raise SliceError("an empty range", field)
    else:
        raise SliceError(f"expected [lo, hi] or a mapping like {{'<': 0.2}}, got {spec!r}",
                         field)
    if lo > hi:
        raise SliceError(f"empty range: lower bound {lo:g} > upper bound {hi:g}", field)
    return lo, hi, lo_inc, hi_inc


@dataclass(frozen=True)
class Range:
    """The values of one column from ``lo`` to ``hi``, at one level.

    ``column``: a column name, or ``"level.column"`` to name its level; ``level``: "image",
    "object", "prediction", or None for the first level holding the column (in that order).
    ``closed``: "both" ``[lo, hi]`` (the Explorer's brush, a test case's ``[lo, hi]``), "left"
    ``[lo, hi)`` (``evaluate(object_range=...)``, a hypothesis side), "right" ``(lo, hi]``,
    "neither" ``(lo, hi)``. ``None`` or an infinite bound is no bound and holds the infinities,
    so that side counts as closed; reversed bounds are put in order. Immutable.
    """

    column: str
    lo: float = -math.inf
    hi: float = math.inf
    closed: str = "both"
    level: str | None = None

    def __post_init__(self):
        prefix, column = split_level(self.column)
        if prefix is not None and self.level is not None and prefix != self.level:
            raise ValueError(f"range {self.column!r} names level {prefix!r}, not {self.level!r}")
        level = self.level if self.level is not None else prefix
        if level is not None:
            check_level(level)
        if self.closed not in CLOSURES:
            raise ValueError(f"closed must be one of {', '.join(CLOSURES)}, got {self.closed!r}")
        lo = -math.inf if self.lo is None else float(self.lo)
        hi = math.inf if self.hi is None else float(self.hi)
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"the range of {self.column!r} has a NaN bound")
        lo, hi = (hi, lo) if hi < lo else (lo, hi)
        closed = _CLOSURE_OF[(self.closed in ("both", "left") or lo == -math.inf,
                              self.closed in ("both", "right") or hi == math.inf)]
        for name, value in (("column", column), ("level", level), ("lo", lo), ("hi", hi),
                            ("closed", closed)):
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, spec) -> Range:
        """A Range from a Range, ``(column, lo, hi)`` or ``(column, lo, hi, closed)``."""
        if isinstance(spec, Range):
            return spec
        if isinstance(spec, (tuple, list)) and len(spec) in (3, 4) and isinstance(spec[0], str):
            return cls(*spec)
        raise ValueError(f"a range is (column, lo, hi) or (column, lo, hi, closed), got {spec!r}")

    @classmethod
    def from_spec(cls, key: str, spec) -> Range:
        """The range ``key: spec`` of a test case's ``where`` (see :func:`parse_bounds`)."""
        lo, hi, lo_inc, hi_inc = parse_bounds(spec, f"where.{key}")
        return cls(key, lo, hi, _CLOSURE_OF[(lo_inc, hi_inc)])

    @property
    def key(self) -> str:
        """``"level.column"`` (``"column"`` when the level is not fixed)."""
        return self.column if self.level is None else f"{self.level}.{self.column}"

    @property
    def lo_inclusive(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def hi_inclusive(self) -> bool:
        return self.closed in ("both", "right")

    def mask(self, values) -> np.ndarray:
        """Bool per value: is it in the range (:func:`range_mask`)?"""
        return range_mask(values, self.lo, self.hi, self.closed)

    def describe(self, level: str | None = None) -> str:
        """``"object_redness in [0.1, inf)"``; the level prefix is left out at ``level``."""
        name = self.column if self.level in (None, level) else self.key
        left = "[" if self.lo_inclusive and self.lo != -math.inf else "("
        right = "]" if self.hi_inclusive and self.hi != math.inf else ")"
        lo = "-inf" if self.lo == -math.inf else format_value(self.lo)
        hi = "inf" if self.hi == math.inf else format_value(self.hi)
        return f"{name} in {left}{lo}, {hi}{right}"

    def spec(self, mapping: bool = False):
        """The range as the test-case schema writes it: ``[lo, hi]`` (None for an open end)
        when closed on both sides (and not ``mapping``), else a mapping of bounds such as
        ``{">=": 0, "<": 1}``."""
        if self.closed == "both" and not mapping:
            return [None if math.isinf(self.lo) else self.lo,
                    None if math.isinf(self.hi) else self.hi]
        out = {}
        if self.lo != -math.inf:
            out[">=" if self.lo_inclusive else ">"] = self.lo
        if self.hi != math.inf:
            out["<=" if self.hi_inclusive else "<"] = self.hi
        return out

    def __and__(self, other: Range) -> Range:
        """The intersection with a range of the same column (its values in both); a
        :class:`SliceError` ("empty range") when the two do not meet."""
        # At an equal bound the open side wins: (x, True) sorts after (x, False).
        lo, lo_open = max((self.lo, not self.lo_inclusive), (other.lo, not other.lo_inclusive))
        hi, hi_inc = min((self.hi, self.hi_inclusive), (other.hi, other.hi_inclusive))
        if lo > hi:
            raise SliceError(f"empty range: the ranges of {self.key!r} do not meet "
                             f"({self.describe()} and {other.describe()})", f"where.{self.key}")
        return Range(self.column, lo, hi, _CLOSURE_OF[(not lo_open, hi_inc)], self.level)
