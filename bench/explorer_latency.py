"""Latency and bytes of one Explorer brush update on a 1,000,000-row frame with 20 metrics.

Times, in the kernel, one brush update end to end: the bqplot selector's ``selected`` is set (as
a message from the browser would), then the observers compute the mask, the highlighted bins,
the summary line, the scatter highlight and the first gallery page from cached thumbnails.
The browser's drawing is not included. Every widget's comm is replaced by one that counts the
bytes it would send (JSON state plus binary buffers), to show that only bins, the scatter's
selected subsample indices and one page of thumbnails travel, never the million rows.

Run: ``.venv/bin/python bench/explorer_latency.py [--rows N] [--updates K]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import comm  # noqa: E402


class CountingComm(comm.DummyComm):
    """A comm that sends nothing but counts the bytes of every message."""

    sent_bytes = 0
    messages = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        size = len(json.dumps(data, default=str).encode("utf-8")) if data is not None else 0
        size += sum(memoryview(b).nbytes for b in (buffers or []))
        CountingComm.sent_bytes += size
        CountingComm.messages += 1
        self.bytes = getattr(self, "bytes", 0) + size


# Must be in place before any widget opens its comm.
comm.create_comm = lambda *args, **kwargs: CountingComm(*args, **kwargs)

from quality_widgets.analysis import selection as sel  # noqa: E402
from quality_widgets.frames import MetricFrames  # noqa: E402
from quality_widgets.widgets import Explorer  # noqa: E402
from quality_widgets.widgets.traits import ids_in  # noqa: E402


def build_frames(n_rows: int, n_metrics: int, n_files: int, folder: Path) -> MetricFrames:
    """``n_rows`` images whose paths cycle over ``n_files`` small JPEGs (thumbnails cache by
    file), with ``n_metrics`` float metric columns of different distributions."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n_files):
        p = folder / f"img_{i:03d}.jpg"
        # Photo-like content (smooth gradients plus mild noise): pure noise would make JPEG
        # thumbnails 2-3x larger than real photos'.
        yy, xx = np.mgrid[0:480, 0:640]
        base = np.stack([(xx * (i + 1) % 256), (yy * 2 + 7 * i) % 256,
                         ((xx + yy) // 3 + 11 * i) % 256], axis=2).astype(np.float64)
        noise = rng.normal(0, 12, base.shape)
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(p, quality=90)
        paths.append(str(p))
    ids = np.arange(1, n_rows + 1)
    cols = {"file_name": np.array([Path(p).name for p in paths], dtype=object)[ids % n_files],
            "path": np.array(paths, dtype=object)[ids % n_files],
            "width": np.full(n_rows, 640), "height": np.full(n_rows, 480)}
    names = ["brightness", "contrast", "sharpness", "redness", "greenness", "blueness",
             "colorfulness", "entropy", "uniqueness", "aspect_ratio"]
    for k in range(n_metrics):
        name = names[k] if k < len(names) else f"metric_{k:02d}"
        kind = k % 3
        cols[name] = (rng.random(n_rows) if kind == 0 else
                      rng.normal(0.5, 0.15, n_rows) if kind == 1 else
                      rng.lognormal(0.0, 1.0, n_rows))
    cols["error"] = np.full(n_rows, None, dtype=object)
    images = pd.DataFrame(cols, index=pd.Index(ids, name="image_id"))
    empty = pd.DataFrame(index=pd.Index([], dtype="int64", name="annotation_id"))
    return MetricFrames(images=images, objects=empty,
                        predictions=empty.rename_axis("prediction_id"),
                        cache_dir=folder / "cache")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--metrics", type=int, default=20)
    ap.add_argument("--updates", type=int, default=30)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        frames = build_frames(args.rows, args.metrics, 64, Path(tmp))
        print(f"frame: {args.rows:,} rows x {args.metrics} metrics, built in "
              f"{time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        ex = Explorer(frames, metric="brightness")
        print(f"Explorer opened in {1e3 * (time.perf_counter() - t0):.0f} ms "
              f"({CountingComm.sent_bytes / 1e3:.0f} kB of initial widget state)")

        values = frames.images["brightness"].to_numpy()
        rng = np.random.default_rng(1)
        intervals = [tuple(sorted(rng.uniform(0.0, 1.0, 2))) for _ in range(args.updates)]
        # Warm the thumbnail cache (every file once): the updates below serve their pages
        # from the in-memory cache, as a session does after the first look at each image.
        from quality_widgets.widgets.thumbnails import ThumbnailRequest
        ex.thumbnails.get_many(ThumbnailRequest(p, image_size=(640, 480))
                               for p in pd.unique(frames.images["path"]))
        made_before = ex.thumbnails.made

        from ipywidgets.widgets.widget import _instances
        widgets_now = list(_instances.values())
        for w in widgets_now:
            if w.comm is not None:
                w.comm.bytes = 0
        times, sizes, counts = [], [], []
        for lo, hi in intervals:
            before = CountingComm.sent_bytes
            t0 = time.perf_counter()
            ex.histogram.selector.selected = np.array([lo, hi])   # what a browser drag sets
            times.append(1e3 * (time.perf_counter() - t0))
            sizes.append(CountingComm.sent_bytes - before)
            counts.append(ex.n_selected)
            assert ex.n_selected == int(np.count_nonzero((values >= lo) & (values <= hi)))
            assert len(ex.gallery.ids) == min(24, ex.n_selected)

        made_during = ex.thumbnails.made - made_before
        by_kind = {}
        for w in widgets_now:
            if w.comm is not None and getattr(w.comm, "bytes", 0):
                kind = type(w).__name__
                by_kind[kind] = by_kind.get(kind, 0) + w.comm.bytes / len(intervals)
        # The same steps as plain functions, to show where the time goes.
        parts = {}
        lo, hi = intervals[0]
        for name, fn in [
            ("range mask", lambda: sel.range_mask(values, lo, hi)),
            ("highlighted bins", lambda: sel.overlapping_bins(ex.histogram.histogram.edges,
                                                              lo, hi)),
            ("first page (top-24 of selection)",
             lambda: sel.sort_page(frames.images, "brightness", True, 0, 24,
                                   mask=sel.range_mask(values, lo, hi), values=values)),
            ("selection trait (ids of the mask)",
             lambda: ids_in(frames.images.index, sel.range_mask(values, lo, hi))),
            ("full histogram (once per metric/bins)",
             lambda: sel.histogram(values, 30)),
        ]:
            reps = []
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                reps.append(1e3 * (time.perf_counter() - t0))
            parts[name] = min(reps)

    print(f"\nbrush update, end to end in the kernel ({args.updates} updates, "
          f"selections of {min(counts):,}..{max(counts):,} rows):")
    print(f"  median {statistics.median(times):.1f} ms, p90 "
          f"{np.percentile(times, 90):.1f} ms, max {max(times):.1f} ms (required <= 100 ms)")
    print(f"  bytes sent per update: median {statistics.median(sizes) / 1e3:.1f} kB, "
          f"max {max(sizes) / 1e3:.1f} kB (one page of 24 thumbnails + bins + "
          f"scatter highlight; the frame itself is "
          f"{frames.images.memory_usage(deep=False).sum() / 1e6:.0f} MB)")
    print(f"  thumbnails rendered during the timed updates: {made_during} (all from cache)")
    print("  bytes per update by widget: " + ", ".join(
        f"{k} {v / 1e3:.1f} kB" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
    print("  parts (best of 5, plain functions):")
    for name, ms in parts.items():
        print(f"    {name:<40} {ms:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
