"""The dataset model: images, annotations, predictions and categories as pandas DataFrames.

Frames and their columns (ids are the index):

``images`` (index ``image_id``)
    ``file_name`` (as written in the source, relative to ``images_dir``), ``path`` (absolute path,
    or None when there is no image folder or the name is unsafe), ``width``, ``height`` (pixels,
    nullable integers).
``annotations`` (index ``annotation_id``, the file's ids)
    ``image_id``, ``category_id``, ``category`` (name), ``bbox_x``, ``bbox_y``, ``bbox_w``,
    ``bbox_h`` (COCO xywh, pixels), ``area``, ``iscrowd`` (bool), ``segmentation`` (polygon list,
    RLE dict or None), plus any extra scalar attributes of the source rows (``annotator``...).
``predictions`` (index ``prediction_id``, the 1-based position in the results file)
    ``image_id``, ``category_id``, ``category``, ``bbox_x``..``bbox_h``, ``score``; the ids
    are numbered as pycocotools' ``loadRes`` numbers them.
``categories`` (index ``category_id``)
    ``name``, ``supercategory``.

Video datasets (:meth:`Dataset.from_mot`, :meth:`~Dataset.from_youtube_vis`,
:meth:`~Dataset.from_video`, COCO-video files in :meth:`~Dataset.from_coco`): every frame is an
image, with ``video`` (the video's name) and ``frame_index`` (0-based frame number within the
video; frames of a video sort by it) in ``images``, and ``track_id`` in ``annotations`` (a track
is identified by ``video`` and ``track_id`` together).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import coco, folder, mot, video, yolo, youtube_vis
from .checks import MAX_UNUSABLE, check_prediction_images
from .schema import empty_annotations, empty_categories, empty_images, empty_predictions


@dataclass
class Dataset:
    """Images, annotations and predictions of one dataset, as DataFrames (see module doc).

    Build one with :meth:`from_coco`, :meth:`from_yolo` or :meth:`from_folder`; or directly from
    frames that follow the column conventions above.
    """

    images: pd.DataFrame = field(default_factory=empty_images)
    annotations: pd.DataFrame = field(default_factory=empty_annotations)
    predictions: pd.DataFrame = field(default_factory=empty_predictions)
    categories: pd.DataFrame = field(default_factory=empty_categories)
    images_dir: Path | None = None
    has_annotations: bool = False
    has_predictions: bool = False
    name: str = "dataset"
    sources: dict = field(default_factory=dict)

    # ---- loaders -------------------------------------------------------------------------
    @classmethod
    def from_coco(cls, images_dir, annotations=None, predictions=None, name: str | None = None,
                  max_unusable: float = MAX_UNUSABLE) -> Dataset:
        """Load a COCO instances JSON (and optionally a COCO results JSON list of predictions).

        ``images_dir`` may be None when only labels and predictions are needed (evaluation).
        ``annotations`` may be None for an images + predictions dataset: the image list then
        comes from the folder, and image ids from the file names by COCO's rule
        (``000000000009.jpg`` is image 9); predictions are refused when the names do not follow
        it (their image ids could not be mapped to files). Malformed files raise
        :class:`~quality_widgets.DatasetError`; malformed rows are skipped with a
        :class:`~quality_widgets.DataWarning`, unless more than ``max_unusable`` (a fraction;
        1: only when all of them) of the rows of a file, or of the image files, are unusable:
        then :class:`~quality_widgets.DatasetError` (see README, "Bad data").
        """
        dataset = cls(**coco.load(images_dir, annotations, name=name, max_unusable=max_unusable))
        dataset.sources["loader"] = "coco"
        return (dataset.with_predictions(predictions, max_unusable=max_unusable)
                if predictions is not None else dataset)

    @classmethod
    def from_yolo(cls, images_dir, labels_dir=None, class_names=None, predictions_dir=None,
                  name: str | None = None, max_unusable: float = MAX_UNUSABLE) -> Dataset:
        """Load a YOLO dataset: ``images_dir`` + ``labels_dir/<stem>.txt`` (``class cx cy w h``,
        normalised to [0, 1]), class names as a list, a dict, a ``classes.txt``/``*.names`` file
        or a ``data.yaml``. ``labels_dir`` defaults to the sibling ``labels`` folder of an
        ``images`` folder (and class names are then looked for as ``classes.txt`` in
        ``labels_dir`` or its parent, or ``data.yaml`` in the parent; without any, a warning
        and categories named by their index). ``predictions_dir`` holds the same format plus a
        6th column, the confidence. Image ids: as :meth:`from_folder`. More than
        ``max_unusable`` bad label lines: :class:`~quality_widgets.DatasetError`."""
        dataset = cls(**yolo.load(images_dir, labels_dir, class_names, predictions_dir,
                                  name=name, max_unusable=max_unusable))
        dataset.sources["loader"] = "yolo"
        return dataset

    @classmethod
    def from_folder(cls, images_dir, recursive: bool = True, name: str | None = None
                    ) -> Dataset:
        """All images below ``images_dir`` (by extension; sub-folders that are symbolic links
        are followed), with no labels: data metrics only. Image ids: from the file names by
        COCO's rule when every name follows it (``000000000009.jpg`` is image 9), else 1..n in
        sorted name order. A folder without any image is a
        :class:`~quality_widgets.DatasetError`."""
        dataset = cls(**folder.load(images_dir, recursive=recursive, name=name))
        dataset.sources["loader"] = "folder"
        return dataset

    @classmethod
    def from_mot(cls, sequence_dir, predictions=True, name: str | None = None) -> Dataset:
        """Load a MOTChallenge sequence: ``seqinfo.ini``, ``img1/``, ``gt/gt.txt`` (rows with
        consider flag 0 are ignore regions: ``iscrowd`` True) and, when ``predictions`` is True
        and it exists, ``det/det.txt`` as predictions (or ``predictions=`` another file in the
        same format, such as a tracker's results). See :mod:`quality_widgets.data.mot`."""
        return cls(**mot.load(sequence_dir, predictions=predictions, name=name))

    @classmethod
    def from_youtube_vis(cls, annotations, frames_dir=None, name: str | None = None
                         ) -> Dataset:
        """Load a YouTube-VIS file: one annotation per track with per-frame ``bboxes`` and
        ``segmentations`` (None where absent); frame paths relative to ``frames_dir``.
        See :mod:`quality_widgets.data.youtube_vis`."""
        return cls(**youtube_vis.load(annotations, frames_dir, name=name))

    @classmethod
    def from_video(cls, path, annotations=None, every: int = 1, name: str | None = None
                   ) -> Dataset:
        """The frames of a video file (PyAV, ``pip install quality-widgets[video]``), kept as
        references ``"<video>#frame=<i>"`` that the metric workers decode; nothing is written to
        disk. ``every``: keep every n-th frame. ``annotations``: a COCO-video or YouTube-VIS
        JSON or a MOT ``gt.txt``, matched by frame index. See :mod:`quality_widgets.data.video`.
        """
        return cls(**video.load(path, annotations=annotations, every=every, name=name))

    # ---- views ---------------------------------------------------------------------------
    @property
    def has_videos(self) -> bool:
        """True when some images are frames of a video (a ``video`` column with values)."""
        return "video" in self.images and bool(self.images["video"].notna().any())

    def subset(self, image_ids: Iterable[int]) -> Dataset:
        """The dataset restricted to ``image_ids`` (annotations and predictions follow)."""
        ids = pd.Index(pd.unique(np.asarray(list(image_ids), dtype="int64")))
        keep = self.images.index.intersection(ids, sort=False)
        images = self.images.loc[keep]
        annotations = self.annotations[self.annotations["image_id"].isin(keep)]
        predictions = self.predictions[self.predictions["image_id"].isin(keep)]
        return replace(self, images=images, annotations=annotations, predictions=predictions)

    def with_predictions(self, predictions, max_unusable: float = MAX_UNUSABLE) -> Dataset:
        """A copy with the predictions of another COCO results file (or list) loaded.

        Results name images by id: refused when the dataset's ids are only positions in a
        folder; refused too when their ids disagree with the dataset past ``max_unusable``
        or their category ids look shifted (see README, "Bad data")."""
        check_prediction_images(self, predictions if isinstance(predictions, (str, Path))
                                else "<predictions>")
        frame = coco.read_predictions(predictions, self, max_unusable=max_unusable)
        sources = dict(self.sources, predictions=str(predictions) if isinstance(
            predictions, (str, Path)) else "<list>")
        return replace(self, predictions=frame, has_predictions=True, sources=sources)

    def category_names(self) -> dict:
        return self.categories["name"].to_dict()

    def __repr__(self) -> str:
        parts = [f"{len(self.images)} images"]
        if self.has_annotations:
            parts.append(f"{len(self.annotations)} annotations")
        if self.has_predictions:
            parts.append(f"{len(self.predictions)} predictions")
        parts.append(f"{len(self.categories)} categories")
        where = f" in {self.images_dir}" if self.images_dir else ""
        return f"<Dataset {self.name!r}: {', '.join(parts)}{where}>"
