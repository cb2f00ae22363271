"""Which rows an export writes, and of which dataset: the level's frame, the selection as its
ids, the images those rows cover and their label rows; for metric frames read back from a
folder, the dataset reloaded from its files (or rebuilt from the frames' columns)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.schema import BOX_COLUMNS, empty_categories
from ..errors import ExportError
from ..frames import FRAME_OF_LEVEL, LEVELS, MetricFrames

DATASET_FRAME = {"image": "images", "object": "annotations", "prediction": "predictions"}


def normalize_level(level: str) -> str:
    level = str(level).rstrip("s")
    if level not in LEVELS:
        raise ExportError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    return level


def level_frame(data, level: str) -> pd.DataFrame:
    """The rows of ``level``: the metric frame for MetricFrames, the dataset frame otherwise."""
    if isinstance(data, MetricFrames):
        return data.frame(level)
    if isinstance(data, Dataset):
        return getattr(data, DATASET_FRAME[level])
    raise ExportError(f"expected a Dataset or MetricFrames, got {type(data).__name__}")


def dataset_of(data) -> Dataset:
    """The Dataset of ``data``. For MetricFrames read back from a metrics folder: the dataset
    reloaded from the files its ``dataset.json`` names (:func:`reload_dataset`: segmentation,
    licences, URLs and every category kept); when that is impossible, a Dataset rebuilt from
    the frames' own columns (boxes and the categories rows use; no segmentation), with a
    :class:`~quality_widgets.DataWarning` saying what is lost."""
    if isinstance(data, Dataset):
        return data
    if getattr(data, "dataset", None) is not None:
        return data.dataset
    reloaded, why = reload_dataset(data)
    if reloaded is not None:
        data.dataset = reloaded
        return reloaded
    import warnings

    from ..errors import DataWarning
    warnings.warn(
        f"{data.cache_dir or 'metrics'}: exporting labels rebuilt from the metric frames "
        f"({why}): segmentation, the images' license/flickr_url/coco_url, supercategories and "
        "categories no row uses are not in the frames and are left out; pass the dataset "
        "(--images with --annotations or --yolo-labels) to keep them", DataWarning,
        stacklevel=2)
    images = data.images
    img = pd.DataFrame({c: images.get(c)
                        for c in ("file_name", "path", "width", "height")}, index=images.index)

    def labels(frame, with_score):
        cols = ["image_id", "category_id", "category", *BOX_COLUMNS]
        missing = [c for c in cols if c not in frame]
        if missing:
            return None
        out = frame[cols + (["score"] if with_score and "score" in frame else [])].copy()
        if not with_score:
            out["area"] = (frame["area"] if "area" in frame
                           else frame["bbox_w"] * frame["bbox_h"])
            out["iscrowd"] = frame["iscrowd"].astype(bool) if "iscrowd" in frame else False
            out["segmentation"] = None
        return out

    anns = labels(data.objects, False)
    preds = labels(data.predictions, True)
    parts = [f[["category_id", "category"]] for f in (anns, preds) if f is not None and len(f)]
    if parts:
        both = pd.concat(parts).drop_duplicates("category_id").set_index("category_id")
        cats = pd.DataFrame({"name": both["category"].astype(str).to_numpy(),
                             "supercategory": None},
                            index=pd.Index(both.index.to_numpy(dtype="int64"),
                                           name="category_id")).sort_index()
    else:
        cats = empty_categories()
    ds = Dataset(images=img, categories=cats, has_annotations=anns is not None,
                 has_predictions=preds is not None, name="metrics")
    if anns is not None:
        ds = replace(ds, annotations=anns)
    if preds is not None:
        ds = replace(ds, predictions=preds)
    return ds


def reload_dataset(frames) -> tuple[Dataset | None, str]:
    """(dataset, "") reloaded from the files a metrics folder's ``dataset.json`` names
    (``frames.sources``), checked to hold every row of the frames; else (None, why not)."""
    import warnings

    from ..errors import DatasetError, DataWarning
    sources = getattr(frames, "sources", None) or {}
    loader = sources.get("loader")
    if loader not in ("coco", "yolo", "folder"):
        return None, "the folder does not say which files it was computed from"
    try:
        with warnings.catch_warnings():      # the rows' warnings were shown by `metrics`
            warnings.simplefilter("ignore", DataWarning)
            if loader == "coco":
                ds = Dataset.from_coco(sources.get("images_dir"), sources.get("annotations"),
                                       sources.get("predictions"), max_unusable=1.0)
            elif loader == "yolo":
                ds = Dataset.from_yolo(sources["images_dir"], sources.get("labels"),
                                       sources.get("classes"), sources.get("predictions"),
                                       max_unusable=1.0)
            else:
                ds = Dataset.from_folder(sources["images_dir"])
    except (DatasetError, OSError, KeyError, TypeError) as e:
        return None, f"its dataset files cannot be read again: {e}"
    for level in LEVELS:
        frame = frames.frame(level)
        if len(frame) and len(frame.index.difference(level_frame(ds, level).index)):
            return None, (f"its dataset files changed since: {FRAME_OF_LEVEL[level]} of the "
                          "frames are missing from them")
    return ds, ""


def selected_ids(frame: pd.DataFrame, selection) -> pd.Index:
    """``selection`` as ids of ``frame``: None (all rows), a boolean mask, a DataFrame or Series
    (its index), or ids. Unknown ids raise ExportError."""
    if selection is None:
        return frame.index
    if isinstance(selection, (pd.DataFrame, pd.Series)) and not (
            isinstance(selection, pd.Series) and pd.api.types.is_bool_dtype(selection.dtype)):
        selection = selection.index
    if isinstance(selection, pd.Series):  # boolean Series aligned on the frame
        return frame.index[selection.reindex(frame.index, fill_value=False).to_numpy()]
    arr = np.asarray(selection)
    if arr.dtype == bool:
        if arr.size != len(frame):
            raise ExportError(f"a boolean selection needs one value per row ({len(frame)}), "
                              f"got {arr.size}")
        return frame.index[arr]
    ids = pd.Index(arr)
    unknown = ids.difference(frame.index)
    if len(unknown):
        raise ExportError(f"{len(unknown)} selected id(s) are not rows of the "
                          f"{frame.index.name or 'frame'}: {list(unknown[:5])}")
    return pd.Index(pd.unique(ids.to_numpy()), name=frame.index.name)


def _images_for(ds: Dataset, level: str, ids: pd.Index, data) -> pd.Index:
    """The image ids a selection at ``level`` covers."""
    if level == "image":
        return ids
    frame = level_frame(data, level)
    return pd.Index(pd.unique(frame.loc[ids, "image_id"].to_numpy(dtype="int64")),
                    name="image_id")


def _labels_for(ds: Dataset, level: str, ids: pd.Index, image_ids: pd.Index) -> pd.DataFrame:
    """The label rows to write: all annotations of the images (image level), exactly the
    selected objects (object level), or the selected predictions (prediction level)."""
    if level == "image":
        return ds.annotations[ds.annotations["image_id"].isin(image_ids)]
    if level == "object":
        return ds.annotations.loc[ds.annotations.index.intersection(ids, sort=False)]
    return ds.predictions.loc[ds.predictions.index.intersection(ids, sort=False)]
