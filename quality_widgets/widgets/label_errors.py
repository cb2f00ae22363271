"""LabelErrors: review candidate label errors one page at a time, accept or reject each.

Each tile draws the label's box (red) and the evidence box (green: the prediction, or the
suggested box) on a crop of the image around both, with the suggestion and the reason in the
caption. Decisions are tags (``accepted-<kind>`` / ``rejected-<kind>`` on the annotation or,
for overlooked objects, the prediction) in a :class:`~quality_widgets.analysis.tags.TagStore`,
so they persist beside the metric cache and filter the Explorer like any tag;
``qw.apply_fixes(ds, review.accepted, out=...)`` writes the corrected file.
"""
from __future__ import annotations

import html
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets
from PIL import Image, ImageDraw

from ..analysis.label_errors import KINDS
from ..analysis.tags import TagStore, split_tags
from ..data.imaging import ImageDecodeError, decode_rgb
from .thumbnails import data_uri, encode_jpeg
from .traits import Paged

LABEL_COLOR = "#d62728"
EVIDENCE_COLOR = "#2ca02c"
ALL_KINDS = "all kinds"


def decision_tag(kind: str, accepted: bool) -> str:
    return f"{'accepted' if accepted else 'rejected'}-{kind}"


def _level_and_id(row) -> tuple[str, int]:
    if row["kind"] == "overlooked":
        return "prediction", int(row["prediction_id"])
    return "object", int(row["annotation_id"])


def render_review(path, label_box=None, evidence_box=None, size: int = 220,
                  margin: float = 0.6) -> bytes:
    """JPEG of the region around ``label_box`` and ``evidence_box`` (xywh, pixels; either may be
    None) with ``margin`` x their extent of context on each side, the label box in red and the
    evidence box in green, longest side ``size`` pixels."""
    pixels = decode_rgb(path)
    height, width = pixels.shape[:2]
    boxes = [b for b in (label_box, evidence_box) if b is not None]
    if boxes:
        b = np.asarray(boxes, dtype=float)
        x0, y0 = b[:, 0].min(), b[:, 1].min()
        x1, y1 = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
        pad = margin * max(x1 - x0, y1 - y0, 16)
        c0, r0 = int(max(0, np.floor(x0 - pad))), int(max(0, np.floor(y0 - pad)))
        c1, r1 = int(min(width, np.ceil(x1 + pad))), int(min(height, np.ceil(y1 + pad)))
        if c1 <= c0 or r1 <= r0:
            c0, r0, c1, r1 = 0, 0, width, height
    else:
        c0, r0, c1, r1 = 0, 0, width, height
    image = Image.fromarray(pixels[r0:r1, c0:c1])
    scale = size / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    line = max(2, round(size / 90))
    for box, color in ((label_box, LABEL_COLOR), (evidence_box, EVIDENCE_COLOR)):
        if box is None:
            continue
        x, y, w, h = box
        draw.rectangle([(x - c0) * scale, (y - r0) * scale, max((x + w - c0) * scale,
                                                                (x - c0) * scale + 1),
                        max((y + h - r0) * scale, (y - r0) * scale + 1)], outline=color,
                       width=line)
    return encode_jpeg(image)


class LabelErrors(Paged, widgets.VBox):
    """A review gallery of candidate label errors (rows of ``qw.find_label_errors``).

    ``LabelErrors(ds, candidates)``: pages of ``per_page`` candidates, most likely first, of
    ``kind`` (a dropdown; "" for all kinds), each with Accept and Reject buttons. Traits:
    ``kind``, ``page``, ``n_pages``, ``ids`` (the candidate rows shown, by their index in
    ``candidates``), ``n_accepted``, ``n_rejected``. From Python: :meth:`accept`,
    :meth:`reject`, :meth:`undecide`, :attr:`accepted` (rows to pass to ``qw.apply_fixes``),
    :attr:`decisions`. Tags go to ``tags_path``, else beside ``metrics.cache_dir`` when
    ``metrics`` is given, else memory only.
    """

    kind = traitlets.Unicode("")
    ids = traitlets.List()
    n_accepted = traitlets.Int(0)
    n_rejected = traitlets.Int(0)

    def __init__(self, ds, candidates: pd.DataFrame, metrics=None, tags_path=None,
                 kind: str = "", per_page: int = 12, thumbnail_size: int = 220,
                 min_score: float = 0.0, **kwargs):
        if not isinstance(candidates, pd.DataFrame) or "kind" not in candidates:
            raise TypeError("LabelErrors needs the DataFrame of qw.find_label_errors(ds)")
        if kind and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} (or '' for all), got {kind!r}")
        self.dataset = ds
        self.candidates = candidates[candidates["score"] >= min_score]
        if tags_path is not None:
            self.tags = TagStore(tags_path)
        else:
            self.tags = TagStore.beside(getattr(metrics, "cache_dir", None))
        self.size = int(thumbnail_size)
        self._jpegs: OrderedDict = OrderedDict()
        kinds_present = [k for k in KINDS if (self.candidates["kind"] == k).any()]
        self.kind_control = widgets.Dropdown(
            description="kind", options=[(ALL_KINDS, "")] + [(k, k) for k in kinds_present],
            value=kind if kind in kinds_present else "", layout=widgets.Layout(width="260px"))
        self.status = widgets.HTML()
        self.grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, minmax({self.size + 20}px, 1fr))",
            grid_gap="6px"))
        super().__init__(children=[
            widgets.HBox([self.kind_control, *self._page_controls()]),
            widgets.HTML(f"<span style='font-size:12px'><b style='color:{LABEL_COLOR}'>"
                         f"red</b>: the label, <b style='color:{EVIDENCE_COLOR}'>green</b>: the "
                         f"evidence (prediction or suggested box)</span>"),
            self.grid, self.status], **kwargs)
        with self._quiet():
            self.per_page = per_page
            self.kind = self.kind_control.value
        widgets.link((self.kind_control, "value"), (self, "kind"))
        self._count()
        self.render()

    # ---- data ------------------------------------------------------------------------------
    @property
    def shown_rows(self) -> pd.DataFrame:
        """The candidates of the chosen kind, in order."""
        rows = self.candidates
        return rows[rows["kind"] == self.kind] if self.kind else rows

    def _tags_of(self, row) -> tuple:
        level, item = _level_and_id(row)
        column = self.tags.column(level, pd.Index([item]))
        return split_tags(column.iloc[0])

    def decision(self, index) -> str | None:
        """"accepted", "rejected" or None for the candidate row ``index``."""
        row = self.candidates.loc[index]
        tags = self._tags_of(row)
        if decision_tag(row["kind"], True) in tags:
            return "accepted"
        if decision_tag(row["kind"], False) in tags:
            return "rejected"
        return None

    def _decide(self, index, accepted: bool | None) -> None:
        row = self.candidates.loc[index]
        level, item = _level_and_id(row)
        for flag in (True, False):
            self.tags.remove(level, [item], decision_tag(row["kind"], flag))
        if accepted is not None:
            self.tags.add(level, [item], decision_tag(row["kind"], accepted))
        self._count()

    def accept(self, index) -> None:
        """Accept the fix of candidate row ``index`` (tag ``accepted-<kind>``)."""
        self._decide(index, True)
        self.render()

    def reject(self, index) -> None:
        """Reject candidate row ``index``: the label is right (tag ``rejected-<kind>``)."""
        self._decide(index, False)
        self.render()

    def undecide(self, index) -> None:
        self._decide(index, None)
        self.render()

    def _flags(self, accepted: bool) -> np.ndarray:
        rows = self.tags.rows
        if len(self.candidates) == 0 or len(rows) == 0:
            return np.zeros(len(self.candidates), dtype=bool)
        keys = set(zip(rows["level"], rows["id"], rows["tag"], strict=True))
        return np.fromiter(
            ((("prediction", int(r.prediction_id), decision_tag(r.kind, accepted)) in keys)
             if r.kind == "overlooked" else
             (("object", int(r.annotation_id), decision_tag(r.kind, accepted)) in keys)
             for r in self.candidates.itertuples()), dtype=bool, count=len(self.candidates))

    @property
    def accepted(self) -> pd.DataFrame:
        """The accepted candidate rows (for ``qw.apply_fixes``)."""
        return self.candidates[self._flags(True)]

    @property
    def decisions(self) -> pd.DataFrame:
        """Every decided candidate row with a ``decision`` column."""
        acc, rej = self._flags(True), self._flags(False)
        out = self.candidates[acc | rej].copy()
        out["decision"] = np.where(acc[acc | rej], "accepted", "rejected")
        return out

    def _count(self) -> None:
        self.n_accepted = int(self._flags(True).sum())
        self.n_rejected = int(self._flags(False).sum())

    # ---- rendering -------------------------------------------------------------------------
    @traitlets.observe("kind", "per_page")
    def _on_kind(self, change):
        self._first_page()

    def _boxes(self, row):
        """(label box, evidence box) of a candidate row."""
        label = row["bbox"] if row["kind"] != "overlooked" else None
        evidence = None
        if row["kind"] == "overlooked":
            evidence = row["bbox"]
        elif row["kind"] == "badly_located" and isinstance(row["suggested_bbox"], list):
            evidence = row["suggested_bbox"]
        elif not pd.isna(row["prediction_id"]):
            preds = self.dataset.predictions
            pid = int(row["prediction_id"])
            if pid in preds.index:
                evidence = preds.loc[pid, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist()
        return label, evidence

    def _image(self, row) -> str:
        images = self.dataset.images
        path = images["path"].get(row["image_id"]) if "path" in images else None
        label, evidence = self._boxes(row)
        key = (path, tuple(label or ()), tuple(evidence or ()), self.size)
        if key not in self._jpegs:
            if not isinstance(path, str):
                return ("<div style='height:80px;color:#a33;font-size:11px'>no image file "
                        "</div>")
            try:
                self._jpegs[key] = data_uri(render_review(path, label, evidence, self.size))
            except (ImageDecodeError, OSError) as e:
                return (f"<div style='height:80px;color:#a33;font-size:11px'>"
                        f"{html.escape(str(e))}</div>")
            while len(self._jpegs) > 512:
                self._jpegs.popitem(last=False)
        return f"<img src='{self._jpegs[key]}' style='display:block;margin:auto'/>"

    @staticmethod
    def caption(row) -> str:
        """The tile's text: kind and score, the item, the suggested fix, the reason."""
        kind = row["kind"]
        if kind == "swapped":
            fix = f"{row['category']} \u2192 {row['suggested_category'] or '?'}"
        elif kind == "badly_located":
            fix = f"move the {row['category']} box"
        elif kind == "spurious":
            fix = f"remove this {row['category']}"
        else:
            fix = f"add a {row['category']}"
        item = (f"prediction {row['prediction_id']}" if kind == "overlooked"
                else f"annotation {row['annotation_id']}")
        return (f"<b>{html.escape(kind)}</b> {row['score']:.2f}: {html.escape(fix)}<br/>"
                f"<span style='color:#555'>{html.escape(item)}, image {row['image_id']}</span>"
                f"<br/><span style='font-size:10px'>{html.escape(str(row['reason']))}</span>")

    def _tile(self, index, row) -> widgets.VBox:
        decision = self.decision(index)
        accept = widgets.Button(description="accept", icon="check",
                                button_style="success" if decision == "accepted" else "",
                                layout=widgets.Layout(width="48%"))
        reject = widgets.Button(description="reject", icon="times",
                                button_style="danger" if decision == "rejected" else "",
                                layout=widgets.Layout(width="48%"))
        accept.on_click(lambda _: self._guard(lambda: self.accept(index)))
        reject.on_click(lambda _: self._guard(lambda: self.reject(index)))
        border = {"accepted": "#2ca02c", "rejected": "#999"}.get(decision, "#ddd")
        body = widgets.HTML(self._image(row) + f"<div class='qw-label-error' "
                            f"style='font-size:11px;line-height:1.3;max-width:{self.size}px'>"
                            f"{self.caption(row)}</div>")
        return widgets.VBox([body, widgets.HBox([accept, reject])],
                            layout=widgets.Layout(border=f"2px solid {border}", padding="3px"))

    def render(self) -> None:
        rows = self.shown_rows
        n_pages = max(1, -(-len(rows) // self.per_page))
        with self._quiet():
            self.n_pages = n_pages
            self.page = min(self.page, n_pages - 1)
        page_rows = rows.iloc[self.page * self.per_page:(self.page + 1) * self.per_page]
        self.ids = [int(i) for i in page_rows.index]
        self.grid.children = [self._tile(i, r) for i, r in page_rows.iterrows()]
        self.page_label.value = (f"&nbsp;page {self.page + 1} / {n_pages} ({len(rows):,} "
                                 f"candidates)&nbsp;")
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= n_pages - 1
        self.status.value = html.escape(f"{self.n_accepted} accepted, {self.n_rejected} rejected")

    def _guard(self, action) -> None:
        try:
            action()
        except (ValueError, KeyError, OSError) as e:
            self.status.value = (f"<span style='color:#b00'>"
                                 f"{html.escape(type(e).__name__ + ': ' + str(e))}</span>")
