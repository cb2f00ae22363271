"""Load: 5,000 generated images with 5% bad ones, 2 workers. Every good image gets its values,
every bad one an error, peak memory stays under 2 GB, and a second run comes from the cache."""
import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    import numpy as np
    from PIL import Image
    import quality_widgets as qw

    root = Path(sys.argv[1]); n = int(sys.argv[2])
    images = root / "images"; images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    bad = set(rng.choice(n, size=n // 20, replace=False).tolist())
    base = rng.integers(0, 256, size=(72, 96, 3)).astype(np.uint8)
    for i in range(n):
        name = images / f"img_{i:05d}.jpg"
        if i in bad:
            kind = i % 3
            if kind == 0:
                name.write_bytes(b"")
            elif kind == 1:
                name.write_text("not an image")
            else:
                Image.fromarray(base).save(name, quality=80)
                data = name.read_bytes(); name.write_bytes(data[: len(data) // 3])
        else:
            arr = np.roll(base, i, axis=1) // (1 + i % 4)
            Image.fromarray(arr).save(name, quality=80)
    ds = qw.Dataset.from_folder(images)
    t = time.time()
    first = qw.compute_metrics(ds, workers=2, cache_dir=root / "cache", progress=False)
    t1 = time.time() - t
    t = time.time()
    second = qw.compute_metrics(ds, workers=2, cache_dir=root / "cache", progress=False)
    t2 = time.time() - t
    names = first.images["file_name"].str.slice(4, 9).astype(int)
    is_bad = names.isin(bad).to_numpy()
    good_ok = bool(first.images.loc[~is_bad, "brightness"].notna().all()
                   and first.images.loc[~is_bad, "error"].isna().all())
    bad_err = bool(first.images.loc[is_bad, "error"].notna().all())
    print(json.dumps({
        "n": len(first.images), "n_bad": len(bad), "good_ok": good_ok, "bad_have_errors": bad_err,
        "first_computed": first.stats["computed"], "second_computed": second.stats["computed"],
        "second_from_cache": second.stats["from_cache"], "t1": t1, "t2": t2,
        "maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "maxrss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))
""")


@pytest.mark.slow
def test_five_thousand_images_with_bad_ones(tmp_path):
    script = tmp_path / "load.py"
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "data"), "5000"],
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    print(report)
    assert report["n"] == 5000 and report["n_bad"] == 250
    assert report["good_ok"] and report["bad_have_errors"]
    assert report["first_computed"] == 5000
    # bad images are retried (the file may have been fixed); every good one comes from cache
    assert report["second_computed"] == report["n_bad"]
    assert report["second_from_cache"] == 5000 - report["n_bad"]
    assert report["maxrss_self_mb"] < 2048 and report["maxrss_children_mb"] < 2048
