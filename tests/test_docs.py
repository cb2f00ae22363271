"""The reference site cannot fall behind the API: every public name has its entry, and the
generated pages list every built-in metric and every subcommand.

The site itself is built (warnings as errors) by ``./run docs`` in CI; these checks are the cheap
part that runs with the tests, reading the Markdown sources and calling the page generator.
"""
import argparse
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import quality_widgets as qw

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _autodoc_targets() -> set[str]:
    """Names documented by an autodoc directive (``.. autofunction:: quality_widgets.x``) in
    the site's Markdown pages."""
    pattern = re.compile(r"^\.\. auto(?:function|class|exception|module|data)::\s+(\S+)\s*$",
                         re.MULTILINE)
    found = set()
    for page in DOCS.glob("*.md"):
        found.update(pattern.findall(page.read_text(encoding="utf-8")))
    return found


def _generator():
    spec = importlib.util.spec_from_file_location("make_docs_pages",
                                                  ROOT / "scripts" / "make_docs_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_has_a_reference_entry():
    documented = _autodoc_targets()
    missing = [name for name in qw.__all__ if f"quality_widgets.{name}" not in documented]
    assert not missing, (f"public names without an autodoc entry in docs/*.md: {missing} "
                         "(add `.. autofunction:: quality_widgets.NAME` to the page of its area)")


def test_the_reference_documents_only_names_that_exist():
    # A stale entry fails the Sphinx build too; here it fails without Sphinx installed.
    for target in sorted(_autodoc_targets()):
        module, _, attr = target.rpartition(".")
        obj = importlib.import_module(module) if module else None
        try:
            importlib.import_module(target)
            continue                                    # a module
        except ImportError:
            pass
        assert hasattr(obj, attr), f"docs/*.md documents {target}, which does not exist"


def test_generated_metrics_page_lists_every_builtin_metric_at_its_levels():
    page = _generator().metrics_page()
    for spec in qw.registered_metrics(builtin=True):
        if spec.name.startswith("_"):
            assert f"``{spec.name}``\n~" not in page        # internal columns stay out
            continue
        entry = page.split(f"``{spec.name}``\n{'~' * (len(spec.name) + 4)}\n", 1)
        assert len(entry) == 2, f"no entry for the built-in metric {spec.name}"
        levels = re.search(r":levels: (.*)", entry[1]).group(1)
        assert spec.level in levels.split(", "), (spec.name, spec.level, levels)


def test_readme_metrics_summary_names_every_builtin_column():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Built-in metrics", 1)[1].split("\n## ", 1)[0]
    columns = {c for spec in qw.registered_metrics(builtin=True)
               for c in spec.output_columns if not c.startswith("_")}
    missing = sorted(c for c in columns if f"`{c}`" not in section)
    assert not missing, f"built-in metric columns missing from the README's summary: {missing}"


@pytest.mark.parametrize("pipe_text, expected", [
    ("mean |a - b| / 255", "mean \\|a - b\\| / 255"),
    ("``x | y`` and |z|", "``x | y`` and \\|z\\|"),
    ("Like this::\n\n    a | b\n\nthen |c|", "Like this::\n\n    a | b\n\nthen \\|c\\|"),
])
def test_formula_pipes_are_not_read_as_substitutions(pipe_text, expected):
    assert _generator().plain_pipes(pipe_text) == expected


def test_generated_cli_page_has_every_subcommand_and_option():
    from quality_widgets.cli.main import build_parser

    page = _generator().cli_page()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in sub.choices.items():
        assert f"``quality-widgets {name}``" in page
        for action in subparser._actions:
            if action.help == argparse.SUPPRESS:       # hidden on purpose (test hooks)
                continue
            for flag in action.option_strings:
                assert flag in page, (name, flag)
