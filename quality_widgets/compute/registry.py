"""The ``@metric`` decorator and the registry of metrics (built-in and the user's).

A metric is a plain function. The decorator records what it measures and returns the function
unchanged, so it stays callable on a numpy array in a test or a notebook::

    @quality_widgets.metric(level="image")
    def mean_red(image):            # image: (H, W, 3) uint8 RGB
        "Mean of the red channel, 0..255 (the docstring is the description)."
        return float(image[:, :, 0].mean())

    @quality_widgets.metric(level="object")
    def crop_height(crop, row):     # crop: the box's pixels; row: the annotation's fields
        return crop.shape[0]

Levels: ``"image"`` functions take the decoded image; ``"object"`` (annotations) and
``"prediction"`` functions take the box crop and, if they accept a second argument, the row
(a dict with ``bbox_x, bbox_y, bbox_w, bbox_h, image_width, image_height, category_id,
category``, for predictions ``score``, and ``segmentation``, the COCO mask or None, when the
frame has masks). ``level=("object", "prediction")`` defines one
metric at both levels under the same column name. ``pixels=False`` says the function needs no
pixels (geometry only): it receives ``None`` instead of pixels and the engine skips decoding when
nothing else needs them. ``scope="dataset"`` metrics run after the per-item ones on the whole
frame: ``fn(frame, dataset) -> Series or DataFrame`` indexed like ``frame`` (for metrics that
compare items with each other, such as duplicates).

The description a user reads in metric lists and the reference is the docstring's first
paragraph (its summary): say it once there, with the formula and units below it.
``description=`` overrides it (for a function whose docstring is written for another purpose).

Re-running a decorated definition (a notebook cell run twice) replaces the earlier one. Bump
``version`` when you change what a function computes: cached values of other versions are then
ignored.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..frames import LEVELS

_lock = threading.RLock()
_REGISTRY: dict[tuple[str, str], Metric] = {}   # (level, name) -> Metric
_BUILTIN_LOADED = False
_loading_builtin = threading.local()


@dataclass(frozen=True)
class Metric:
    """What the engine knows about one metric function at one level."""

    name: str
    level: str
    func: Callable = field(compare=False, repr=False)
    description: str = ""
    version: str = "1"
    scope: str = "item"          # "item": one value per image/object/prediction; "dataset"
    pixels: bool = True          # needs decoded pixels
    takes_row: bool = False      # object/prediction functions: (crop, row) rather than (crop)
    columns: tuple = ()          # dataset scope: the columns it returns (default: (name,))
    requires: tuple = ()         # dataset scope: item-level columns it reads
    builtin: bool = False
    source: str = ""             # file it was defined in, for messages

    @property
    def key(self) -> str:
        """Cache key: name and version (the level is stored alongside)."""
        return f"{self.name}@{self.version}"

    @property
    def output_columns(self) -> tuple:
        return self.columns or (self.name,)


def _accepts_two(func) -> bool:
    try:
        params = [p for p in inspect.signature(func).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def metric(level="image", name: str | None = None, description: str | None = None,
           version: str | int = "1", *, pixels: bool = True, scope: str = "item",
           columns: Iterable[str] = (), requires: Iterable[str] = ()):
    """Register a function as a quality metric (see the module doc). Returns the function."""
    levels = (level,) if isinstance(level, str) else tuple(level)
    for lv in levels:
        if lv not in LEVELS:
            raise ValueError(f"metric level must be one of {LEVELS}, got {lv!r}")
    if scope not in ("item", "dataset"):
        raise ValueError(f"metric scope must be 'item' or 'dataset', got {scope!r}")

    def decorate(func):
        if not callable(func):
            raise TypeError("@metric decorates a function")
        metric_name = name or func.__name__
        if not metric_name.isidentifier():
            raise ValueError(f"metric name {metric_name!r} must be a valid identifier")
        doc = description
        if doc is None:
            doc = (inspect.getdoc(func) or "").strip().split("\n\n")[0].replace("\n", " ")
        builtin = getattr(_loading_builtin, "active", False)
        specs = []
        for lv in levels:
            spec = Metric(name=metric_name, level=lv, func=func, description=doc,
                          version=str(version), scope=scope, pixels=pixels,
                          takes_row=lv != "image" and scope == "item" and _accepts_two(func),
                          columns=tuple(columns), requires=tuple(requires), builtin=builtin,
                          source=getattr(func, "__module__", "") or "")
            specs.append(spec)
            with _lock:
                _REGISTRY[(lv, metric_name)] = spec
        func.__qw_metrics__ = tuple(specs)
        return func

    return decorate


# ---- built-in metrics: files in metrics/, loaded by path --------------------------------------
def builtin_metrics_dir() -> Path:
    """The folder of built-in metric files: shipped inside the wheel as package data, or the
    checkout's top-level ``metrics/`` folder."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_builtin_metrics"
    if packaged.is_dir():
        return packaged
    return package.parent / "metrics"


def load_metric_file(path, builtin: bool = False) -> list[Metric]:
    """Execute a Python file of ``@metric`` functions and return the metrics it defined.

    The module is registered in ``sys.modules`` under a private name and its functions are
    pickled by value for worker processes, so files from any folder work in parallel runs.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"metric file not found: {path}")
    module_name = f"quality_widgets._metric_files.{'builtin_' if builtin else ''}{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    before = set(_REGISTRY.items())
    previous = getattr(_loading_builtin, "active", False)
    _loading_builtin.active = builtin
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(module_name, None)
        raise
    finally:
        _loading_builtin.active = previous
    try:  # pickle these functions by value: a worker process cannot import them by name
        import cloudpickle
        cloudpickle.register_pickle_by_value(module)
    except Exception:
        pass
    return [m for key, m in _REGISTRY.items() if (key, m) not in before]


def load_builtin_metrics() -> None:
    global _BUILTIN_LOADED
    with _lock:
        if _BUILTIN_LOADED:
            return
        folder = builtin_metrics_dir()
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                load_metric_file(path, builtin=True)
        _BUILTIN_LOADED = True


def registered_metrics(level: str | None = None, builtin: bool | None = None) -> list[Metric]:
    """All registered metrics (built-ins loaded on first use), optionally filtered."""
    load_builtin_metrics()
    with _lock:
        out = list(_REGISTRY.values())
    if level is not None:
        out = [m for m in out if m.level == level]
    if builtin is not None:
        out = [m for m in out if m.builtin == builtin]
    return out


def resolve_metrics(metrics=None) -> list[Metric]:
    """Turn the ``metrics=`` argument of compute_metrics into Metric specs.

    None: every registered metric (built-in and user). Otherwise an iterable of names (all
    levels with that name), decorated functions, Metric objects, or paths of metric files.
    """
    if metrics is None:
        return registered_metrics()
    load_builtin_metrics()
    if isinstance(metrics, (str, Path)) or callable(metrics) or isinstance(metrics, Metric):
        metrics = [metrics]
    out: list[Metric] = []
    for item in metrics:
        if isinstance(item, Metric):
            out.append(item)
        elif callable(item) and hasattr(item, "__qw_metrics__"):
            out.extend(item.__qw_metrics__)
        elif callable(item):
            raise TypeError(f"{getattr(item, '__name__', item)!r} is not decorated with "
                            "@quality_widgets.metric(level=...)")
        elif isinstance(item, Path) or (isinstance(item, str) and item.endswith(".py")):
            out.extend(load_metric_file(item))
        elif isinstance(item, str):
            found = [m for m in registered_metrics() if m.name == item]
            if not found:
                from ..frames import resolve_name
                resolve_name(item, sorted({m.name for m in registered_metrics()
                                           if not m.name.startswith("_")}), "metric")
            out.extend(found)
        else:
            raise TypeError(f"cannot use {item!r} as a metric")
    # keep order, drop repeats
    seen, unique = set(), []
    for m in out:
        if (m.level, m.name) not in seen:
            seen.add((m.level, m.name))
            unique.append(m)
    # dataset-scope metrics pull in the item metrics they read
    have = {(m.level, m.name) for m in unique}
    for m in list(unique):
        for req in m.requires:
            if (m.level, req) not in have:
                extra = [r for r in registered_metrics(m.level) if r.name == req]
                unique[:0] = extra
                have.update((r.level, r.name) for r in extra)
    return unique


def unregister(name: str, level: str | None = None) -> int:
    """Forget the metric ``name`` (at ``level``, or every level); returns how many were removed.
    Built-in metrics come back with the next ``load_builtin_metrics`` only if never loaded."""
    with _lock:
        keys = [k for k in _REGISTRY if k[1] == name and (level is None or k[0] == level)]
        for k in keys:
            del _REGISTRY[k]
    return len(keys)


@contextmanager
def snapshot() -> Iterator[None]:
    """Put the registry back as it was on entry when the block ends: metrics decorated or
    loaded inside are forgotten, metrics unregistered inside come back. Built-in metrics are
    loaded first, so they are part of what is restored::

        with registry.snapshot():
            @metric(level="image")
            def trial(image): ...
            compute_metrics(ds, metrics=[trial])
        # `trial` is no longer registered
    """
    load_builtin_metrics()
    with _lock:
        saved = dict(_REGISTRY)
    try:
        yield
    finally:
        with _lock:
            _REGISTRY.clear()
            _REGISTRY.update(saved)
