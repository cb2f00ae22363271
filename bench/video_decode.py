"""Video frames through the metric engine: an MP4 (frame references, decoded by PyAV in the
workers) against the same frames as JPEG files, and sequential against random access.

Prints ratios against the JPEG baseline measured in the same run, and the machine load. The
clip is generated (320 x 240 by default; no real video may be shipped): real videos are larger,
so the absolute times are only a guide. Run: PYTHONPATH=. python bench/video_decode.py [frames]
"""
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import quality_widgets as qw
from quality_widgets.data import video
from quality_widgets.data.imaging import decode_rgb


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(n_frames=120, size=(640, 480)):
    work = Path(tempfile.mkdtemp(prefix="qw-bench-video-"))
    clip = qw.write_sample_video(work, n_frames=n_frames, size=size)
    jpegs = qw.Dataset.from_coco(clip["img1"], clip["coco_video"])
    mp4 = qw.Dataset.from_video(clip["mp4"], annotations=clip["coco_video"])
    print(f"{n_frames} frames of {size[0]} x {size[1]}; load {os.getloadavg()}")

    refs = mp4.images["path"].tolist()
    files = jpegs.images.sort_values("frame_index")["path"].tolist()
    t_jpeg = timed(lambda: [decode_rgb(p) for p in files])

    def sequential():
        video.close_readers()
        [decode_rgb(p) for p in refs]

    order = list(range(len(refs)))
    random.Random(0).shuffle(order)

    def shuffled():
        video.close_readers()
        [decode_rgb(refs[i]) for i in order]

    t_seq, t_rand = timed(sequential), timed(shuffled)
    print(f"decode only: JPEG files {t_jpeg:.3f} s (1.00); MP4 in order {t_seq:.3f} s "
          f"({t_seq / t_jpeg:.2f}x); MP4 shuffled {t_rand:.3f} s ({t_rand / t_jpeg:.2f}x)")

    metrics = ["brightness", "contrast", "sharpness", "frame_difference", "shape_similarity",
               "id_switch_iou", "gap_after"]
    for workers in (1, 2):
        def run(ds, workers=workers):
            return qw.compute_metrics(ds, metrics=metrics, workers=workers, cache_dir=False,
                                      progress=False)
        t_j = timed(lambda: run(jpegs), repeat=2)
        t_m = timed(lambda: run(mp4), repeat=2)
        print(f"compute_metrics workers={workers}: JPEG {t_j:.2f} s (1.00), MP4 {t_m:.2f} s "
              f"({t_m / t_j:.2f}x)  [includes the temporal metrics; load {os.getloadavg()}]")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 120)
