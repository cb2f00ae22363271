"""Planted label noise in coco128: does find_label_errors rank the planted errors first?

Seeded noise on the official coco128 labels (non-crowd boxes, three disjoint 5% draws): class
swaps (to another of the 80 COCO categories, uniformly), removed boxes, and boxes shifted by half
their width and height (towards the side with room inside the image). Then the k most
suspicious items of each kind, k = the number planted, against

(a) the shared real predictions ``../shared/coco128/predictions/yolo-fastest-1.1-xl.json``;
(b) a detector simulated from the clean labels: 85% of objects found, boxes jittered by 5% of
    their size (normal, sd 0.05 w / 0.05 h on each coordinate), 2% given a wrong class, scores
    Beta(8, 2), plus one random false positive per image with score Beta(2, 5).

Hits: a swapped or badly located label is a hit when its annotation was planted; an overlooked
prediction when it has the removed box's class and IoU >= 0.5 with it, each removed box counted
once (a second box on it is a miss). ``ceiling`` = the share of the k planted errors with
evidence at all: a prediction of the true class with IoU >= 0.5 with the true box and score >=
0.25 (for a removed box, not inside a crowd region of its class, where pycocotools ignores
a detection). With cleanlab installed (``pip install cleanlab``, the ``bench`` extra), its ObjectLab
box scores on the same noise are printed side by side (lower = more suspicious there; boxes it
does not score rank last).

Run: ``PYTHONPATH=. python bench/label_errors.py [--seeds 0 1 2]``. It times only the scoring
(loading the JSON files is left out, for both tools).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quality_widgets as qw  # noqa: E402 (after sys.path)
from quality_widgets.analysis.label_errors import find_label_errors  # noqa: E402 (after sys.path)
from quality_widgets.evaluation.matching import box_iou  # noqa: E402 (after sys.path)

SHARED = Path(os.environ.get("QW_SHARED_DIR", ROOT.parent / "shared")) / "coco128"
BOX = ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]
EVIDENCE_SCORE = 0.25


def iou(a, b):
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    return box_iou(a, b, np.zeros(len(a), bool))


def plant_noise(ds, seed=0, rate=0.05):
    """(noisy dataset, planted) with planted = {"swapped": ids, "badly_located": ids,
    "overlooked": removed rows (DataFrame)}."""
    rng = np.random.default_rng(seed)
    anns = ds.annotations.copy()
    real = anns.index[~anns["iscrowd"].to_numpy(bool)]
    n = round(rate * len(real))
    pick = rng.permutation(real.to_numpy())
    swap_ids, removed_ids, shift_ids = pick[:n], pick[n:2 * n], pick[2 * n:3 * n]
    cat_ids = ds.categories.index.to_numpy()
    for a in swap_ids:
        old = anns.at[a, "category_id"]
        new = rng.choice(cat_ids[cat_ids != old])
        anns.at[a, "category_id"] = new
        anns.at[a, "category"] = ds.categories.at[new, "name"]
    sizes = ds.images[["width", "height"]].astype(float)
    for a in shift_ids:
        x, y, w, h = anns.loc[a, BOX].to_numpy(float)
        W, H = sizes.loc[anns.at[a, "image_id"]].to_numpy()
        dx = _direction(rng, x, w, W) * w / 2
        dy = _direction(rng, y, h, H) * h / 2
        anns.loc[a, ["bbox_x", "bbox_y"]] = [x + dx, y + dy]
    removed = anns.loc[removed_ids].copy()
    anns = anns.drop(index=removed_ids)
    noisy = replace(ds, annotations=anns)
    return noisy, {"swapped": set(swap_ids.tolist()), "badly_located": set(shift_ids.tolist()),
                   "overlooked": removed}


def _direction(rng, x, w, size):
    """+1 or -1: the half-size shift that stays inside the image (random when both do)."""
    fits = [d for d in (1, -1) if x + d * w / 2 >= 0 and x + w + d * w / 2 <= size]
    return rng.choice(fits) if fits else rng.choice([1, -1])


def simulated_predictions(ds, seed=0):
    rng = np.random.default_rng(seed + 1000)
    anns = ds.annotations[~ds.annotations["iscrowd"].to_numpy(bool)]
    cat_ids = ds.categories.index.to_numpy()
    rows = []
    for a in anns.itertuples():
        if rng.random() >= 0.85:
            continue
        w, h = a.bbox_w, a.bbox_h
        box = [a.bbox_x + rng.normal(0, 0.05 * w), a.bbox_y + rng.normal(0, 0.05 * h),
               max(1.0, w + rng.normal(0, 0.05 * w)), max(1.0, h + rng.normal(0, 0.05 * h))]
        cat = a.category_id if rng.random() >= 0.02 else \
            rng.choice(cat_ids[cat_ids != a.category_id])
        rows.append({"image_id": int(a.image_id), "category_id": int(cat), "bbox": box,
                     "score": float(rng.beta(8, 2))})
    for image_id, im in ds.images.iterrows():
        W, H = float(im["width"]), float(im["height"])
        w, h = rng.uniform(0.05, 0.5) * W, rng.uniform(0.05, 0.5) * H
        rows.append({"image_id": int(image_id), "category_id": int(rng.choice(cat_ids)),
                     "bbox": [rng.uniform(0, W - w), rng.uniform(0, H - h), w, h],
                     "score": float(rng.beta(2, 5))})
    return rows


def ceilings(clean, predictions, planted):
    """Share of the planted errors with evidence (see module doc)."""
    preds = predictions
    out = {}
    for kind in ("swapped", "badly_located", "overlooked"):
        truth = (clean.annotations.loc[sorted(planted[kind])] if kind != "overlooked"
                 else planted[kind])
        found = 0
        crowds = clean.annotations[clean.annotations["iscrowd"].to_numpy(bool)]
        for a in truth.itertuples():
            p = preds[(preds["image_id"] == a.image_id) & (preds["category_id"] == a.category_id)
                      & (preds["score"] >= EVIDENCE_SCORE)]
            if not len(p):
                continue
            box = np.repeat([[a.bbox_x, a.bbox_y, a.bbox_w, a.bbox_h]], len(p), 0)
            seen = iou(p[BOX].to_numpy(), box) >= 0.5
            crowd = crowds[(crowds["image_id"] == a.image_id)
                           & (crowds["category_id"] == a.category_id)]
            if kind == "overlooked" and len(crowd) and seen.any():
                # under pycocotools' crowd rule a detection inside a crowd region of its class
                # is ignored: a box removed there leaves no usable evidence
                dt = p[BOX].to_numpy()[seen]
                inside = np.zeros(len(dt), bool)
                for c in crowd[BOX].to_numpy():
                    inside |= box_iou(dt, np.repeat([c], len(dt), 0), np.ones(len(dt), bool)) >= .5
                seen[np.flatnonzero(seen)[inside]] = False
            found += bool(seen.any())
        out[kind] = found / max(len(truth), 1)
    return out


def hits_overlooked(ranked_preds: pd.DataFrame, removed: pd.DataFrame) -> np.ndarray:
    """Hit (bool) per ranked prediction row: matches a not-yet-hit removed box."""
    taken = set()
    out = []
    for p in ranked_preds.itertuples():
        r = removed[(removed["image_id"] == p.image_id) & (removed["category_id"] == p.category_id)]
        hit = False
        if len(r):
            ious = iou(np.repeat([[p.bbox_x, p.bbox_y, p.bbox_w, p.bbox_h]], len(r), 0),
                       r[BOX].to_numpy())
            for k in np.argsort(-ious):
                if ious[k] >= 0.5 and r.index[k] not in taken:
                    taken.add(r.index[k])
                    hit = True
                    break
        out.append(hit)
    return np.asarray(out, dtype=bool)


def precision_recall(order_ids, truth_hits, n_planted):
    """(P@k, R@2k) from ``truth_hits`` (bool per ranked item)."""
    k = n_planted
    hits = np.asarray(truth_hits, bool)
    return hits[:k].sum() / k, hits[:2 * k].sum() / k


def ours(noisy, planted):
    t0 = time.perf_counter()
    cand = find_label_errors(noisy)
    elapsed = time.perf_counter() - t0
    out = {}
    for kind in ("swapped", "badly_located"):
        ranked = cand[cand["kind"] == kind]["annotation_id"].astype(int).to_numpy()
        hits = np.isin(ranked, list(planted[kind]))
        out[kind] = precision_recall(ranked, hits, len(planted[kind]))
    ranked = cand[cand["kind"] == "overlooked"]["prediction_id"].astype(int).to_numpy()
    preds = noisy.predictions.loc[ranked[:2 * len(planted["overlooked"])]]
    out["overlooked"] = precision_recall(ranked, hits_overlooked(preds, planted["overlooked"]),
                                         len(planted["overlooked"]))
    return out, elapsed


def cleanlab_scores(noisy, planted):
    try:
        from cleanlab.object_detection import rank
    except ImportError:
        return None, 0.0
    cats = noisy.categories.index.to_numpy()
    cat_pos = {c: i for i, c in enumerate(cats)}
    anns = noisy.annotations[~noisy.annotations["iscrowd"].to_numpy(bool)]
    preds = noisy.predictions
    image_ids = noisy.images.index.to_numpy()
    labels, predictions, ann_order, pred_order = [], [], [], []
    for image_id in image_ids:
        a = anns[anns["image_id"] == image_id]
        b = a[BOX].to_numpy(float)
        labels.append({"bboxes": np.c_[b[:, :2], b[:, :2] + b[:, 2:]].reshape(-1, 4),
                       "labels": np.array([cat_pos[c] for c in a["category_id"]], dtype=int)})
        ann_order.append(a.index.to_numpy())
        p = preds[preds["image_id"] == image_id]
        per_class, ids = [], []
        for c in cats:
            q = p[p["category_id"] == c]
            qb = q[BOX].to_numpy(float)
            per_class.append(np.c_[qb[:, :2], qb[:, :2] + qb[:, 2:], q["score"].to_numpy()]
                             .reshape(-1, 5).astype(np.float32))
            ids.append(q.index.to_numpy())
        predictions.append(np.array(per_class, dtype=object))
        pred_order.append(np.concatenate(ids) if ids else np.zeros(0, int))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        swap = rank.compute_swap_box_scores(labels=labels, predictions=predictions)
        badloc = rank.compute_badloc_box_scores(labels=labels, predictions=predictions)
        over = rank.compute_overlooked_box_scores(labels=labels, predictions=predictions)
    elapsed = time.perf_counter() - t0
    out = {}
    ann_ids = np.concatenate(ann_order)
    for kind, scores in (("swapped", swap), ("badly_located", badloc)):
        s = np.concatenate(scores)
        s = np.where(np.isnan(s), np.inf, s)
        ranked = ann_ids[np.argsort(s, kind="stable")]
        out[kind] = precision_recall(ranked, np.isin(ranked, list(planted[kind])),
                                     len(planted[kind]))
    # cleanlab orders the predictions of an image by class; ours by id: realign
    pred_ids = np.concatenate(pred_order)
    s = np.concatenate(over)
    s = np.where(np.isnan(s), np.inf, s)
    ranked = pred_ids[np.argsort(s, kind="stable")]
    rows = preds.loc[ranked[:2 * len(planted["overlooked"])]]
    out["overlooked"] = precision_recall(ranked, hits_overlooked(rows, planted["overlooked"]),
                                         len(planted["overlooked"]))
    return out, elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if not (SHARED / "instances.json").exists():
        print(f"needs {SHARED} (the shared coco128 data)")
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = qw.Dataset.from_coco(SHARED / "images", SHARED / "instances.json",
                                     SHARED / "predictions" / "yolo-fastest-1.1-xl.json")
    real_preds = clean.predictions
    totals = {}
    for seed in args.seeds:
        noisy, planted = plant_noise(clean, seed)
        sizes = {k: len(v) for k, v in planted.items()}
        print(f"\nseed {seed}: planted {sizes} in {len(clean.annotations)} labels "
              f"(load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
        simulated = replace(noisy, predictions=qw.Dataset.with_predictions(
            noisy, simulated_predictions(clean, seed)).predictions)
        for name, ds in (("real yolo-fastest-1.1-xl", replace(noisy, predictions=real_preds)),
                         ("simulated detector", simulated)):
            ceil = ceilings(clean, ds.predictions, planted)
            mine, t_mine = ours(ds, planted)
            theirs, t_theirs = cleanlab_scores(ds, planted)
            print(f"\n{name} ({len(ds.predictions)} predictions): find_label_errors "
                  f"{t_mine:.2f} s" + (f", cleanlab {t_theirs:.2f} s (ratio "
                                       f"{t_theirs / t_mine:.1f}x)" if theirs else
                                       ", cleanlab not installed"))
            print(f"{'kind':<14}{'k':>4}{'ceiling':>9}{'P@k':>7}{'R@2k':>7}"
                  + (f"{'cleanlab P@k':>14}{'R@2k':>7}" if theirs else ""))
            for kind in ("swapped", "badly_located", "overlooked"):
                p, r = mine[kind]
                line = f"{kind:<14}{sizes[kind]:>4}{ceil[kind]:>9.2f}{p:>7.2f}{r:>7.2f}"
                values = [ceil[kind], p, r]
                if theirs:
                    line += f"{theirs[kind][0]:>14.2f}{theirs[kind][1]:>7.2f}"
                    values += list(theirs[kind])
                totals.setdefault((name, kind), []).append(values)
                print(line)
    if len(args.seeds) > 1:
        print(f"\nmean over seeds {args.seeds}")
        for name in ("real yolo-fastest-1.1-xl", "simulated detector"):
            with_cleanlab = len(totals[(name, "swapped")][0]) == 5
            print(f"\n{name}\n{'kind':<14}{'ceiling':>9}{'P@k':>7}{'R@2k':>7}"
                  + (f"{'cleanlab P@k':>14}{'R@2k':>7}" if with_cleanlab else ""))
            widths = (9, 7, 7, 14, 7) if with_cleanlab else (9, 7, 7)
            for kind in ("swapped", "badly_located", "overlooked"):
                m = np.mean(totals[(name, kind)], axis=0)
                print(f"{kind:<14}" + "".join(f"{v:>{w}.2f}" for v, w in
                                               zip(m, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
