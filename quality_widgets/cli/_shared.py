"""What the subcommands share: the dataset arguments and their loading, metric names, JSON
output, warnings, exit codes.

Exit codes, for every subcommand: 0 ok, 1 a model test case failed, 2 bad input or nothing
usable (an unreadable or inconsistent file, a name that is not there, all or more than
``--max-unusable`` of the input unusable, a refused export). A subcommand's ``run(args)``
returns one of them; errors of the library (:class:`~quality_widgets.DatasetError`...) become
code 2 in :func:`main.main`, printed as one line by :func:`error`.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager

from ..jsonsafe import dumps

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def add_max_unusable_argument(parser) -> None:
    from ..data.checks import MAX_UNUSABLE
    parser.add_argument(
        "--max-unusable", type=fraction, default=MAX_UNUSABLE, metavar="FRACTION",
        help=f"refuse the input (exit 2) when more than this fraction of the image files, "
             f"annotation or prediction rows is unusable (missing files, unknown ids, bad "
             f"boxes); all of them unusable is always refused (default {MAX_UNUSABLE})")


def add_dataset_arguments(parser, images_required: bool = True) -> None:
    """``--images``, ``--annotations``, ``--predictions``, the YOLO variants and
    ``--max-unusable``."""
    parser.add_argument("--images", required=images_required,
                        help="folder of images (COCO: the folder the annotations' file_name "
                             "values are relative to; YOLO: the images/ folder)")
    parser.add_argument("--annotations", help="COCO instances JSON")
    parser.add_argument("--predictions", help="COCO results JSON (a list of detections); "
                                              "without --annotations, image ids are read from "
                                              "COCO-style file names (000000000009.jpg is 9)")
    parser.add_argument("--yolo-labels", help="YOLO labels folder (default: the labels/ "
                                              "folder beside an images/ folder)")
    parser.add_argument("--yolo-predictions", help="YOLO predictions folder (6 columns)")
    parser.add_argument("--classes", help="YOLO class names: classes.txt, *.names or data.yaml "
                                          "(default: found beside the labels)")
    add_max_unusable_argument(parser)


def yolo_labels_of(args):
    """The YOLO labels folder the arguments mean: ``--yolo-labels``, or without
    ``--annotations`` the ``labels/`` beside an ``images/`` folder (as ``Dataset.from_yolo``
    finds it); None for a COCO dataset or a plain folder."""
    from ..data.yolo import default_labels_dir
    if getattr(args, "yolo_labels", None):
        return args.yolo_labels
    if getattr(args, "annotations", None) is None and getattr(args, "images", None):
        found = default_labels_dir(args.images)
        if found is not None and any(found.rglob("*.txt")):
            return found
    return None


def load_dataset(args):
    """The :class:`~quality_widgets.Dataset` the dataset arguments describe: COCO with
    ``--annotations``, YOLO with ``--yolo-labels`` (or a ``labels/`` folder beside
    ``images/``), else the images folder; ``--predictions`` (COCO results) on any of them."""
    from ..data.dataset import Dataset
    from ..errors import DatasetError
    limit = getattr(args, "max_unusable", None)
    kwargs = {} if limit is None else {"max_unusable": limit}
    labels = yolo_labels_of(args)
    if getattr(args, "annotations", None) is not None and (
            getattr(args, "yolo_labels", None) or getattr(args, "yolo_predictions", None)):
        raise DatasetError(None, "give --annotations (COCO) or --yolo-labels / "
                                 "--yolo-predictions (YOLO), not both")
    yolo = labels is not None or getattr(args, "yolo_predictions", None) or getattr(
        args, "classes", None)
    if yolo:
        if getattr(args, "images", None) is None:
            raise DatasetError(None, "YOLO labels and predictions need --images (boxes are "
                                     "stored relative to the image size)", field="--images")
        if labels is None and getattr(args, "classes", None) and not getattr(
                args, "yolo_predictions", None):
            raise DatasetError(args.classes, "--classes names YOLO classes, but there is no "
                                             "labels folder: pass --yolo-labels DIR (or put "
                                             "the labels in a labels/ folder beside images/)")
        if labels is not None and not getattr(args, "yolo_labels", None):
            note(args, f"YOLO labels from {labels} (pass --annotations for a COCO file)")
        dataset = Dataset.from_yolo(args.images, labels, args.classes,
                                    getattr(args, "yolo_predictions", None), **kwargs)
    elif args.annotations is None and args.predictions is None:
        return Dataset.from_folder(args.images)
    else:
        dataset = Dataset.from_coco(args.images, args.annotations, None, **kwargs)
    if args.predictions is not None:
        dataset = dataset.with_predictions(args.predictions, **kwargs)
    return dataset


def note(args, message: str) -> None:
    """A line on stderr (``quality-widgets COMMAND: note: ...``)."""
    print(f"quality-widgets {getattr(args, 'command', '')}: note: {message}", file=sys.stderr)


# ---- metric names ------------------------------------------------------------------------------
def metric_choices(columns_only: bool = False) -> dict:
    """Names a user may ask for -> the registered metric (function) computing them: every
    column a metric writes and (unless ``columns_only``) every metric's name, except internal
    ones (``_``-prefixed) and identifying columns (``phash``...)."""
    from ..compute.registry import registered_metrics
    from ..frames import ID_COLUMNS
    out = {}
    for m in registered_metrics():
        for name in (m.output_columns if columns_only else (m.name, *m.output_columns)):
            if not name.startswith("_") and name not in ID_COLUMNS:
                out.setdefault(name, m.name)
    return out


def metrics_to_compute(names, what: str = "metric", columns_only: bool = False) -> list:
    """The metric functions (names) and files computing ``names`` (metric or column names,
    or ``.py`` files; only column names with ``columns_only``); an unknown name raises
    KeyError with the closest valid ones."""
    from ..frames import resolve_name
    choices = metric_choices(columns_only)
    out = []
    for name in names:
        if str(name).endswith(".py"):
            out.append(name)
            continue
        resolve_name(name, choices, what)
        if choices[name] not in out:
            out.append(choices[name])
    return out


def check_images_usable(frames, args) -> None:
    """Refuse (DatasetError) metric frames where too many images could not be read
    (``--max-unusable``): the values would describe the few that could."""
    from ..data.checks import MAX_UNUSABLE, require_usable
    images = frames.images
    if "error" not in images or not len(images):
        return
    errors = images["error"]
    bad = errors.map(lambda e: isinstance(e, str) and e.startswith("image:")).to_numpy()
    first = errors[bad].iloc[0] if bad.any() else ""
    name = images["file_name"][bad].iloc[0] if bad.any() and "file_name" in images else ""
    limit = getattr(args, "max_unusable", MAX_UNUSABLE)
    require_usable(int(bad.sum()), len(images), getattr(args, "images", None),
                   "images could not be read", limit,
                   cause=f"first {name}: {first}")


# ---- output ------------------------------------------------------------------------------------
def print_json(value) -> None:
    """Strict JSON on stdout (NaN and infinities as null)."""
    print(dumps(value, indent=1))


def error(command: str, message) -> int:
    """Print ``quality-widgets COMMAND: error: MESSAGE`` on stderr; returns exit code 2."""
    print(f"quality-widgets {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


@contextmanager
def one_line_warnings(command: str):
    """Show warnings as one line each on stderr, ``quality-widgets COMMAND: warning: ...``
    (no source line: they are about the user's data, not our code); each message once."""
    def show(message, category, filename, lineno, file=None, line=None):
        kind = "" if category.__name__ == "DataWarning" else f" ({category.__name__})"
        print(f"quality-widgets {command}: warning{kind}: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield
