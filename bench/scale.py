"""Scale: images/s per core of the default calls on many distinct photos, peak memory, and the
duplicate search on 1,000,000 hashes.

Makes N distinct 640 x 480 JPEGs from random crops, flips and scales of coco128 (with their
boxes and polygons moved the same way), written once to a temporary folder, then measures in
one process, warm (the compiled kernels and the worker pool started by a small first call):

(a) decoding alone with Pillow (the floor), on one core;
(b) ``compute_metrics(Dataset.from_folder(...))``: every default image metric, uniqueness and
    duplicate groups included;
(c) ``compute_metrics(Dataset.from_coco(...))``: the default call with annotations (every
    default metric, dataset-scope ones included);
(d) ``similarity.hash_uniqueness`` on 1,000,000 random 64-bit hashes of which 5% are planted
    near-duplicates (0 to 8 bits flipped), checked against every pair for 200 rows;
(e) ``similarity.nearest_distance`` (bring-your-own embeddings, cosine) on 100,000 x 512
    float32 random embeddings of which 2% are planted near-duplicates, checked against every
    row for 100 rows (float64 definition).

Usage: python bench/scale.py [N] [--workers W] [--hashes H] [--embeddings E] [--keep DIR]
(N, H or E = 0 leaves that part out.)
Left out (said here and in the output): the one-time cost of a fresh process (importing, the
compiled kernels loaded from numba's cache: a few seconds) and writing the JPEGs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quality_widgets as qw  # noqa: E402 (after sys.path)
from quality_widgets.compute import similarity  # noqa: E402 (after sys.path)

W, H = 640, 480


def _move(points: np.ndarray, x0, y0, sx, sy, flip) -> np.ndarray:
    p = (points - [x0, y0]) * [sx, sy]
    if flip:
        p[:, 0] = W - p[:, 0]
    return p


def make_images(src: Path, n: int, out: Path, seed: int = 0) -> Path:
    """n distinct JPEGs in out/images and their COCO instances in out/instances.json."""
    rng = np.random.default_rng(seed)
    data = json.loads((src / "instances.json").read_text())
    by_image: dict = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    sources = data["images"]
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for k in range(n):
        meta = sources[int(rng.integers(len(sources)))]
        with Image.open(src / "images" / meta["file_name"]) as im:
            im = im.convert("RGB")
            iw, ih = im.size
            scale = rng.uniform(0.6, 1.0)              # crop a random part, keep 4:3
            cw = min(iw, ih * 4 / 3) * scale
            ch = cw * 3 / 4
            x0, y0 = rng.uniform(0, iw - cw), rng.uniform(0, ih - ch)
            flip = bool(rng.integers(2))
            tile = im.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
            if flip:
                tile = tile.transpose(Image.FLIP_LEFT_RIGHT)
            name = f"{k:06d}.jpg"
            tile.save(out / "images" / name, quality=int(rng.integers(80, 95)))
        images.append({"id": k + 1, "file_name": name, "width": W, "height": H})
        sx, sy = W / cw, H / ch
        for a in by_image.get(meta["id"], []):
            x, y, w, h = a["bbox"]
            corners = _move(np.array([[x, y], [x + w, y + h]]), x0, y0, sx, sy, flip)
            lo, hi = corners.min(0).clip(0, [W, H]), corners.max(0).clip(0, [W, H])
            if (hi - lo).min() < 1:
                continue
            entry = {"id": len(anns) + 1, "image_id": k + 1, "category_id": a["category_id"],
                     "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                              float(hi[1] - lo[1])],
                     "area": float(a["area"] * sx * sy), "iscrowd": a["iscrowd"]}
            if isinstance(a.get("segmentation"), list):
                entry["segmentation"] = [
                    _move(np.asarray(p, float).reshape(-1, 2), x0, y0, sx, sy, flip)
                    .ravel().round(2).tolist() for p in a["segmentation"]]
            anns.append(entry)
    (out / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": data["categories"]}))
    return out


def planted_hashes(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64)
    k = n // 20
    flips = np.zeros(k, np.uint64)
    bits = rng.integers(0, 9, k)
    for b in range(1, 9):
        rows = np.flatnonzero(bits >= b)
        flips[rows] |= np.uint64(1) << rng.integers(0, 64, len(rows)).astype(np.uint64)
    h[n - k:] = (h[rng.integers(0, n - k, k)].view(np.uint64) ^ flips).view(np.int64)
    return h


def peak_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest worker process (the live
    workers of the kept pool, read from /proc, and any finished child)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    from quality_widgets.compute import pool as pool_module  # the kept local pool
    pool = getattr(pool_module, "_POOL", {}).get("pool")
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                child = max(child, int(line.split()[1]) / 1024)
    return own, child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the cores)")
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--embeddings", type=int, default=100_000,
                        help="rows of 512-d embeddings for nearest_distance (0: skip)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="make (or reuse) the images in this folder instead of a temp one")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "coco128")
    args = parser.parse_args()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    workers = args.workers or cores
    if args.n:
        images_part(args, workers, cores)
    if args.hashes:
        hashes_part(args.hashes)
    if args.embeddings:
        embeddings_part(args.embeddings, cores)


def images_part(args, workers: int, cores: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        start = time.perf_counter()
        if not (folder / "instances.json").exists():
            make_images(args.source, args.n, folder)
        made = time.perf_counter() - start
        paths = sorted((folder / "images").glob("*.jpg"))[:args.n]
        n = len(paths)
        print(f"{n} distinct {W}x{H} JPEGs from coco128 ({made:.0f} s to make, not counted); "
              f"{workers} worker(s) on {cores} core(s); load average {os.getloadavg()[0]:.1f}")
        plain = qw.Dataset.from_folder(folder / "images")
        labelled = qw.Dataset.from_coco(folder / "images", folder / "instances.json")
        for ds in (plain, labelled):   # warm: kernels loaded, the worker pool started
            qw.compute_metrics(ds.subset(ds.images.index[:2 * workers]), workers=workers,
                               cache_dir=False, progress=False)
        start = time.perf_counter()
        for p in paths:
            with Image.open(p) as im:
                np.asarray(im.convert("RGB"))
        decode = time.perf_counter() - start
        print(f"(a) Pillow decode alone, 1 core:           {n / decode:7.0f} images/s per core")
        figures = {}
        for label, ds in (("(b) default image metrics (from_folder)", plain),
                          ("(c) default call with annotations", labelled)):
            start = time.perf_counter()
            frames = qw.compute_metrics(ds, workers=workers, cache_dir=False, progress=False)
            wall = time.perf_counter() - start
            errors = int(frames.images["error"].notna().sum())
            figures[label] = n / wall / workers
            print(f"{label + ':':42s} {n / wall / workers:7.0f} images/s per core "
                  f"({wall:.1f} s wall, {len(ds.annotations)} annotations, {errors} errors)")
        own, child = peak_mb()
        print(f"peak memory: this process {own:.0f} MB, largest worker {child:.0f} MB")


def hashes_part(n_hashes: int) -> None:
    hashes = planted_hashes(n_hashes)
    start = time.perf_counter()
    cpu = time.process_time()
    nearest, groups = similarity.hash_uniqueness(hashes)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    rng = np.random.default_rng(2)
    h = hashes.view(np.uint64)
    for i in rng.choice(len(h), 200, replace=False):
        d = np.bitwise_count(h ^ h[i]).astype(float) / 64
        d[i] = np.inf
        assert d.min() == nearest[i], i
    grouped = int((np.bincount(groups) > 1).sum())
    print(f"(d) uniqueness of {len(hashes):,} hashes (5% planted near-duplicates): {wall:.1f} s "
          f"wall, {cpu:.1f} s CPU (required <= 120 s on 2 cores); {grouped:,} duplicate groups; "
          f"200 rows equal to comparing every pair; load average {os.getloadavg()[0]:.1f}")



def planted_embeddings(n: int, dim: int = 512, seed: int = 3) -> np.ndarray:
    """n random normal float32 rows, the last 2% near-copies (noise 0.05) of earlier rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    k = n // 50
    x[n - k:] = x[rng.integers(0, n - k, k)] + rng.normal(scale=0.05, size=(k, dim)).astype(
        np.float32)
    return x


def embeddings_part(n: int, cores: int) -> None:
    x = planted_embeddings(n)
    start = time.perf_counter()
    cpu = time.process_time()
    nearest = similarity.nearest_distance(x, metric="cosine")
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    y = x.astype(np.float64)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    rng = np.random.default_rng(4)
    worst = 0.0
    for i in rng.choice(n, 100, replace=False):
        d = 1.0 - y @ y[i]
        d[i] = np.inf
        worst = max(worst, abs(d.min() - nearest[i]))
    assert worst <= 1e-12, worst
    print(f"(e) nearest_distance of {n:,} x {x.shape[1]} float32 embeddings (cosine, 2% planted "
          f"near-duplicates): {wall:.1f} s wall, {cpu:.1f} s CPU on {cores} core(s) (required "
          f"< 60 s on 2 cores); 100 rows within {worst:.0e} of comparing every row in float64; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
