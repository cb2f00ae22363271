"""Video files as datasets of frames: frame references, decoding them with PyAV, from_video.

A frame of a video file is never written to disk. The images frame holds a **frame reference**
in its ``path`` column, ``"<absolute video path>#frame=<index>"``, and
:func:`~quality_widgets.data.imaging.decode_rgb` decodes such a reference in whichever process
asks (an engine worker, a gallery thread), so the rest of the project treats frames as images.

Frame numbers come from timestamps, not from counting decoded frames: when the video is opened,
its packets are read (demuxed, not decoded; packets flagged for discard are left out) and their
presentation timestamps sorted; frame ``i`` is the frame whose timestamp is the ``i``-th
(0-based). Decoding is sequential: a reader kept open per process continues forward from the
last frame it decoded when the next requested frame lies ahead (the engine asks for frames in
order), and seeks to the keyframe before the target only when going back or far ahead, then
decodes forward to the frame with the target timestamp. A random frame costs at most one group
of pictures from its keyframe; a whole video in order costs one decode per process that reads
it (a worker whose next chunk of frames lies ahead decodes through the frames between, so with
n workers a video is decoded up to n times: ``bench/video_decode.py`` measures it).

Pixels are converted by FFmpeg to 8-bit RGB (``rgb24``) at the coded size; container rotation
metadata is not applied. PyAV is an optional dependency (``pip install quality-widgets[video]``).
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError, warn_rows
from .schema import empty_annotations, empty_categories, empty_predictions

#: Separates a video file's path from the frame index in a frame reference.
FRAME_MARK = "#frame="

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts",
                    ".wmv", ".flv")


class VideoDecodeError(Exception):
    """A video frame could not be decoded (``imaging.decode_rgb`` raises it as an
    ``ImageDecodeError`` with the same message)."""


_REFERENCE = re.compile(r"^(?P<video>.+)" + re.escape(FRAME_MARK) + r"(?P<index>\d+)$")
# Readers kept open per process (a worker decodes frames of few videos at a time).
MAX_OPEN_READERS = 4
# Going forward by at most this many frames decodes through them rather than seeking.
MAX_FORWARD_DECODE = 300


def _need_av():
    try:
        import av
    except ImportError:
        raise ImportError("reading video files needs PyAV: pip install 'quality-widgets[video]' "
                          "(or pip install av)") from None
    return av


def frame_reference(video, index: int) -> str:
    """The ``path`` of frame ``index`` (0-based) of the video file ``video``."""
    return f"{Path(video).absolute()}{FRAME_MARK}{int(index)}"


def parse_frame_reference(path) -> tuple[str, int] | None:
    """``(video path, frame index)`` of a frame reference; None for an ordinary path."""
    if not isinstance(path, str) or FRAME_MARK not in path:
        return None
    match = _REFERENCE.match(path)
    if match is None:
        return None
    return match["video"], int(match["index"])


# ---- probing: sizes and the timestamps that number the frames ---------------------------------
def _open(av, path: str):
    try:
        container = av.open(path)
    except FileNotFoundError:
        raise VideoDecodeError(f"video file not found: {path}") from None
    except Exception as e:  # PyAV raises its own error classes (InvalidDataError...)
        raise VideoDecodeError(f"cannot open video {path}: {e}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {path}")
    return container


def _timestamps(container, stream) -> np.ndarray:
    """Sorted presentation timestamps of the stream's frames, from its packets (no decode)."""
    pts = []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0 or getattr(packet, "is_discard", False):
            continue
        pts.append(packet.pts)
    return np.unique(np.asarray(pts, dtype=np.int64))


def probe(path) -> dict:
    """``width``, ``height``, ``timestamps`` (int pts, sorted: frame i has timestamps[i]),
    ``time_base`` (seconds per pts unit, a float) and ``fps`` of a video file's first video
    stream. Raises :class:`DatasetError` naming the file when it cannot be read."""
    av = _need_av()
    path = str(Path(path).absolute())
    try:
        container = _open(av, path)
    except VideoDecodeError as e:
        raise DatasetError(path, str(e)) from None
    try:
        stream = container.streams.video[0]
        ts = _timestamps(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        time_base = float(stream.time_base) if stream.time_base else float("nan")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else float("nan")
    except Exception as e:
        raise DatasetError(path, f"cannot read the video's packets: {e}") from None
    finally:
        container.close()
    if len(ts) == 0:
        raise DatasetError(path, "the video stream has no frames")
    return {"width": int(width), "height": int(height), "timestamps": ts,
            "time_base": time_base, "fps": fps}


# ---- decoding: one reader per video and process, sequential ---------------------------------
class _Reader:
    """An open video and its decode iterator. ``valid_from``: the smallest timestamp the
    iterator can still reach by decoding forward (after a seek: the seek target; after a frame:
    the next timestamp); None when there is no iterator."""

    def __init__(self, path: str):
        av = _need_av()
        self.path = path
        self.container = _open(av, path)
        self.stream = self.container.streams.video[0]
        # One decoding thread: the engine's workers are the parallelism, and FFmpeg's codec
        # threads calling PyAV's Python log callback can deadlock with the GIL (PyAV issues
        # 751, 909).
        self.stream.thread_count = 1
        self.timestamps = _timestamps(self.container, self.stream)
        self.lock = threading.Lock()
        self.frames = None
        self.valid_from = None
        self.last = None         # (index, pixels) of the last decoded frame
        if len(self.timestamps):
            self._seek(int(self.timestamps[0]))

    def _seek(self, pts: int) -> None:
        self.container.seek(int(pts), stream=self.stream, backward=True, any_frame=False)
        self.frames = self.container.decode(self.stream)
        self.valid_from = int(pts)

    def frame(self, index: int, max_pixels: int) -> np.ndarray:
        if not 0 <= index < len(self.timestamps):
            raise VideoDecodeError(f"frame {index} is past the end of the video "
                                   f"({len(self.timestamps)} frames)")
        if self.last is not None and self.last[0] == index:
            return self.last[1]
        target = int(self.timestamps[index])
        forward = self.frames is not None and self.valid_from is not None and \
            self.valid_from <= target and \
            index - np.searchsorted(self.timestamps, self.valid_from) <= MAX_FORWARD_DECODE
        if not forward:
            self._seek(target)
        for frame in self.frames:
            pts = frame.pts
            if pts is None or pts < target:
                continue
            self.valid_from = pts + 1
            if pts > target:
                raise VideoDecodeError(f"frame {index} (timestamp {target}) could not be "
                                       f"decoded (the decoder went on to timestamp {pts})")
            if frame.width * frame.height > max_pixels:
                raise VideoDecodeError(f"video frame too large: {frame.width} x "
                                       f"{frame.height} exceeds {max_pixels / 1e6:.0f} MP")
            pixels = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
            pixels.setflags(write=False)
            self.last = (index, pixels)
            return pixels
        self.frames = self.valid_from = None
        raise VideoDecodeError(f"frame {index} (timestamp {target}) not found: the video "
                               f"ended first")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()


_READERS: OrderedDict = OrderedDict()
_READERS_LOCK = threading.Lock()


def _reader(path: str) -> _Reader:
    try:
        st = os.stat(path)
    except OSError:
        raise VideoDecodeError(f"video file not found: {path}") from None
    key = (path, st.st_size, st.st_mtime_ns)
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is not None:
            _READERS.move_to_end(key)
            return reader
    reader = _Reader(path)
    with _READERS_LOCK:
        _READERS[key] = reader
        while len(_READERS) > MAX_OPEN_READERS:
            _, old = _READERS.popitem(last=False)
            old.close()
    return reader


def decode_frame(video, index: int, max_pixels: int = 120_000_000) -> np.ndarray:
    """Frame ``index`` (0-based, numbered by timestamp) of ``video`` as an ``(H, W, 3)`` uint8
    RGB array (read-only: the reader keeps it for a repeated request). Raises
    :class:`VideoDecodeError` with the reason."""
    try:
        reader = _reader(str(video))
    except VideoDecodeError:
        raise
    except ImportError as e:
        raise VideoDecodeError(str(e)) from None
    except Exception as e:
        raise VideoDecodeError(f"cannot open video: {e}") from None
    with reader.lock:
        try:
            return reader.frame(int(index), max_pixels)
        except VideoDecodeError:
            raise
        except Exception as e:   # a damaged stream: start over from a seek next time
            reader.frames = reader.valid_from = None
            raise VideoDecodeError(f"cannot decode video frame {index}: {e}") from None


def close_readers() -> None:
    """Close the video files kept open by this process."""
    with _READERS_LOCK:
        while _READERS:
            _READERS.popitem()[1].close()


# ---- Dataset.from_video -----------------------------------------------------------------------
def frames_frame(video: Path, info: dict, every: int, first_id: int = 1) -> pd.DataFrame:
    """The images frame of a video's frames ``0, every, 2 every, ...``: ``file_name``
    ``<name>#frame=<i>``, ``path`` the frame reference, ``video`` (the file's stem),
    ``frame_index`` i and ``timestamp`` (seconds from the first frame)."""
    ts = info["timestamps"]
    keep = np.arange(0, len(ts), every)
    seconds = (ts[keep] - ts[0]) * info["time_base"]
    frame = pd.DataFrame({
        "file_name": [f"{video.name}{FRAME_MARK}{i}" for i in keep],
        "path": [frame_reference(video, i) for i in keep],
        "width": pd.array([info["width"]] * len(keep), dtype="Int64"),
        "height": pd.array([info["height"]] * len(keep), dtype="Int64"),
        "video": video.stem, "frame_index": keep.astype("int64"), "timestamp": seconds},
        index=pd.Index(keep.astype("int64") + first_id, name="image_id"))
    return frame


def _annotation_fields(annotations, video: Path) -> dict:
    """Dataset fields of an annotation file for a video: COCO-video or YouTube-VIS JSON, or a
    MOTChallenge ``gt.txt``."""
    from . import coco, mot, youtube_vis
    from ._io import read_json
    path = Path(annotations)
    if path.suffix.lower() == ".txt":
        return mot.load_gt_file(path, name=video.stem)
    data = read_json(path, "annotations")
    if isinstance(data, dict) and data.get("annotations") and isinstance(
            data["annotations"], list) and isinstance(data["annotations"][0], dict) and (
            "bboxes" in data["annotations"][0] or "segmentations" in data["annotations"][0]):
        return youtube_vis.load(data, None, file=path)
    return coco.load(None, data, name=path.stem, file=path)


def _pick_video(fields: dict, video: Path, file) -> str | None:
    names = pd.unique(fields["images"]["video"].dropna()) if "video" in fields["images"] else []
    if len(names) <= 1:
        return names[0] if len(names) else None
    for candidate in (video.stem, video.name):
        for n in names:
            if str(n) == candidate or Path(str(n)).stem == candidate:
                return n
    raise DatasetError(file, f"the annotations describe {len(names)} videos "
                             f"({', '.join(map(str, names[:5]))}...) and none is named like "
                             f"{video.name}")


def load(path, annotations=None, every: int = 1, name: str | None = None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of the frames of a video file.

    ``annotations``: None, or a COCO-video JSON, a YouTube-VIS JSON or a MOTChallenge
    ``gt.txt`` whose frames are matched by frame index (COCO ``frame_index``, YouTube-VIS
    position in ``file_names``, MOT frame number - 1). With several videos in the file, the one
    named like the video file is used. ``every``: keep frames 0, every, 2 every...;
    annotations of the other frames are dropped.
    """
    video = Path(path).absolute()
    if not video.is_file():
        raise DatasetError(video, "video file not found")
    every = int(every)
    if every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    info = probe(video)
    images = frames_frame(video, info, every)
    anns, cats, preds = empty_annotations(), empty_categories(), empty_predictions()
    sources = {"video": str(video)}
    if annotations is not None:
        fields = _annotation_fields(annotations, video)
        src_images, anns, cats = fields["images"], fields["annotations"], fields["categories"]
        chosen = _pick_video(fields, video, annotations)
        if chosen is not None:
            src_images = src_images[src_images["video"] == chosen]
        id_of_index = pd.Series(images.index.to_numpy(), index=images["frame_index"].to_numpy())
        new_id = pd.Series(id_of_index.reindex(src_images["frame_index"].to_numpy()).to_numpy(),
                           index=src_images.index)
        mapped = new_id.reindex(anns["image_id"].to_numpy()).to_numpy(dtype=float)
        beyond = src_images["frame_index"] >= len(info["timestamps"])
        if beyond.any():
            bad = anns["image_id"].isin(src_images.index[beyond.to_numpy()]).to_numpy()
            warn_rows(annotations, f"a frame past the end of the video "
                                   f"({len(info['timestamps'])} frames)",
                      [f"annotation id {i}" for i in anns.index[bad]], len(anns))
        anns = anns[np.isfinite(mapped)].assign(image_id=mapped[np.isfinite(mapped)]
                                                .astype("int64"))
        sources["annotations"] = str(annotations)
    return dict(images=images, annotations=anns, predictions=preds, categories=cats,
                images_dir=video.parent, has_annotations=annotations is not None,
                name=name or video.stem, sources=sources)
