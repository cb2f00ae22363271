"""Sphinx configuration of the reference site (``./run docs`` builds it into docs/_build/html).

The pages are Markdown (MyST); the API sections are autodoc directives naming the public names
(``quality_widgets.<name>`` as re-exported by the package), so a renamed or removed function
fails the build (``./run docs`` passes ``-W``: every warning is an error). The built-in metrics
and the command-line pages are generated from the metric registry and the argparse parsers by
``scripts/make_docs_pages.py`` at the start of every build, so they cannot go stale.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_docs_pages  # noqa: E402  (scripts/ is not a package)

import quality_widgets  # noqa: E402

make_docs_pages.write_pages(Path(__file__).resolve().parent / "_generated")

project = "quality-widgets"
author = "quality-widgets developers"
release = version = quality_widgets.__version__
copyright = "quality-widgets developers, Apache-2.0"

extensions = ["sphinx.ext.autodoc", "numpydoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3            # "#bad-data" links to a section, as on GitHub

# Signatures and docstrings as the user reads them: the public name, no module path.
add_module_names = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True    # `cache_dir=DEFAULT`, not the object's repr
numpydoc_show_class_members = False  # members listed where a page asks for them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"quality-widgets {release}"
html_static_path = []
html_show_sourcelink = False


def _widget_signature(app, what, name, obj, options, signature, return_annotation):
    """Widgets inherit traitlets' ``__new__(*args, **kwargs)``, which autodoc would show as
    their signature: show the class's own ``__init__`` instead."""
    import inspect

    if what != "class" or signature is None or "*args: t.Any" not in signature:
        return None
    try:
        init = inspect.signature(obj.__init__, eval_str=True)
    except NameError:                                    # an annotation only a checker knows
        init = inspect.signature(obj.__init__)
    params = list(init.parameters.values())[1:]          # drop self
    return str(init.replace(parameters=params, return_annotation=inspect.Signature.empty)), None


# Cross-references in docstrings (``:func:`name```) are checked too (nitpicky): one that
# names nothing fails the build, as a renamed function should. The site documents the public
# API only, so a reference to a helper, a private module or another library's class (no
# intersphinx: the build is offline) is accepted, shown as code, when the name exists: it is
# imported, relative to the docstring's module and its parents.
nitpicky = True

def _lookup(dotted: str):
    """The object a dotted name names (the longest importable module, then attributes), or
    None."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:                                   # noqa: BLE001 (an import side effect)
            return None
        for name in parts[i:]:
            if not hasattr(obj, name):
                return None
            obj = getattr(obj, name)
        return obj
    return None


def _prefixes(dotted: str) -> list:
    parts = dotted.split(".") if dotted else []
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _scopes(node) -> list:
    """Where a relative name in this docstring may live: the documented object and its
    parents, the module it is defined in and its parents, the page's current module."""
    import re

    scopes = []
    found = re.search(r"docstring of (\S+)", node.source or "")
    for name in _prefixes(found.group(1)) if found else []:
        scopes.append(name)
        obj = _lookup(name)           # a property has no module: its class, a prefix, has one
        module = getattr(obj, "__module__", None) or getattr(obj, "__name__", None)
        if isinstance(module, str):
            qualname = getattr(obj, "__qualname__", "").rpartition(".")[0]
            scopes += _prefixes(f"{module}.{qualname}" if qualname else module)
    module = node.get("py:module") or ""
    if module and node.get("py:class"):
        scopes.append(f"{module}.{node['py:class']}")
    return scopes + _prefixes(module) + ["quality_widgets", ""]


def _existing_reference(app, env, node, contnode):
    """Accept a reference Sphinx could not resolve when its target exists (see above)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    if not target or target.endswith("."):
        return None
    for scope in _scopes(node):
        if _lookup(f"{scope}.{target}" if scope else target) is not None:
            return contnode
    return None


def setup(app):
    app.connect("autodoc-process-signature", _widget_signature)
    app.connect("missing-reference", _existing_reference)
