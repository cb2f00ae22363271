"""The ``@metric`` registry: decoration, resolution of the ``metrics=`` argument, snapshots."""
import textwrap

import numpy as np
import pytest

import quality_widgets as qw
from quality_widgets.compute import registry


def _names(level=None):
    return {m.name for m in registry.registered_metrics(level)}


def test_decorated_function_stays_callable_and_is_registered_at_each_level():
    @qw.metric(level=("object", "prediction"), name="rows_test", version=3)
    def rows_test(crop, row):
        """Rows of the crop.

        More text that is not the description."""
        return crop.shape[0]

    assert rows_test(np.zeros((7, 2, 3), np.uint8), {}) == 7
    specs = {m.level: m for m in registry.registered_metrics() if m.name == "rows_test"}
    assert set(specs) == {"object", "prediction"}
    assert specs["object"].key == "rows_test@3" and specs["object"].takes_row
    assert specs["object"].description == "Rows of the crop."


def test_bad_level_scope_and_name_are_refused():
    with pytest.raises(ValueError, match="metric level"):
        qw.metric(level="pixel")
    with pytest.raises(ValueError, match="metric scope"):
        qw.metric(scope="global")
    with pytest.raises(ValueError, match="valid identifier"):
        qw.metric(name="not a name")(lambda image: 0)


def test_snapshot_forgets_metrics_added_inside_and_restores_removed_ones():
    before = _names("image")
    assert "brightness" in before
    with registry.snapshot():
        @qw.metric(level="image", name="inside_snapshot_test")
        def inside(image):
            return 0.0

        assert registry.unregister("brightness") == 1
        assert "inside_snapshot_test" in _names("image") and "brightness" not in _names("image")
    assert _names("image") == before


def test_snapshot_restores_after_an_exception():
    before = _names()
    with pytest.raises(RuntimeError), registry.snapshot():
        qw.metric(level="image", name="raised_test")(lambda image: 0.0)
        raise RuntimeError
    assert _names() == before


def test_redecorating_replaces_the_earlier_definition():
    @qw.metric(level="image", name="twice_test")
    def first(image):
        return 1.0

    @qw.metric(level="image", name="twice_test")
    def second(image):
        return 2.0

    (spec,) = [m for m in registry.registered_metrics("image") if m.name == "twice_test"]
    assert spec.func is second


def test_resolve_names_functions_files_and_required_columns(tmp_path):
    mfile = tmp_path / "my_file_metrics.py"
    mfile.write_text(textwrap.dedent("""
        from quality_widgets import metric

        @metric(level="image")
        def from_a_file_test(image):
            return 1
    """))
    got = registry.resolve_metrics(["brightness", mfile])
    assert [m.name for m in got] == ["brightness", "from_a_file_test"]
    # a dataset-scope metric pulls in the item columns it reads, ahead of itself
    got = [m.name for m in registry.resolve_metrics(["uniqueness"])]
    assert got[-1] == "uniqueness" and {"phash", "contrast"} <= set(got[:-1])
    with pytest.raises(KeyError, match="unknown metric 'brightnes'"):
        registry.resolve_metrics(["brightnes"])
    with pytest.raises(TypeError, match="not decorated"):
        registry.resolve_metrics([lambda image: 0])


def test_every_builtin_metric_says_its_description_once_in_its_docstring():
    # The description a user reads is the docstring's summary: a built-in passing
    # description= as well would say it twice, and the two drift apart.
    import ast
    import inspect
    for spec in qw.registered_metrics():
        if not spec.builtin or spec.name.startswith("_"):
            continue
        summary = (inspect.getdoc(spec.func) or "").split("\n\n")[0].replace("\n", " ").strip()
        assert summary, f"{spec.name}: no docstring"
        assert spec.description == summary, spec.name
        tree = ast.parse(textwrap.dedent(inspect.getsource(spec.func)))
        calls = [d for d in tree.body[0].decorator_list if isinstance(d, ast.Call)]
        assert not any(k.arg == "description" for d in calls for k in d.keywords), spec.name
