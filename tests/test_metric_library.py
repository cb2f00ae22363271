"""Built-in metrics against hand-computed values and independent float definitions."""
import colorsys
import shutil

import numpy as np
import pytest
from PIL import Image

import quality_widgets as qw
from quality_widgets.compute import pixelstats as px
from quality_widgets.compute.registry import registered_metrics
from quality_widgets.data.imaging import crop, crop_bounds, decode_rgb


def builtin(name, level="image"):
    for m in registered_metrics(level):
        if m.name == name:
            return m.func
    raise KeyError(name)


def ro(a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    a.setflags(write=False)
    return a


def float_luma(a):
    a = a.astype(np.float64)
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def test_constant_image():
    img = ro(np.full((4, 5, 3), 100))
    assert builtin("brightness")(img) == pytest.approx(100 / 255, abs=1e-12)
    assert builtin("contrast")(img) == 0.0
    assert builtin("sharpness")(img) == 0.0
    assert builtin("entropy")(img) == 0.0
    assert builtin("colorfulness")(img) == 0.0
    assert builtin("redness")(img) == 0.0
    assert (builtin("width")(img), builtin("height")(img), builtin("area")(img)) == (5, 4, 20)
    assert builtin("aspect_ratio")(img) == 1.25


def test_hand_computed_two_by_two():
    # luma of black 0 and white 255: mean 127.5, std 127.5, entropy 1 bit
    img = ro([[[0, 0, 0], [255, 255, 255]], [[255, 255, 255], [0, 0, 0]]])
    assert builtin("brightness")(img) == pytest.approx(0.5)
    assert builtin("contrast")(img) == pytest.approx(1.0)
    assert builtin("entropy")(img) == pytest.approx(1.0)
    assert np.isnan(builtin("sharpness")(img))  # no interior pixel


def test_sharpness_hand_computed():
    # 3x3 gray image with a bright centre: one interior pixel, L = 4*0 - 4*Y -> std 0;
    # 4x3: two interior pixels, L values -4c and c -> std = 2.5 c
    y = np.zeros((4, 3))
    y[1, 1] = 100
    img = ro(np.repeat(y[:, :, None], 3, axis=2))
    # interior pixels (1,1): L = 0+0+0+0-400 = -400 ; (2,1): L = 100 + 0 + 0 + 0 - 0 = 100
    assert builtin("sharpness")(img) == pytest.approx(np.std([-400, 100]) / 1020)


def test_float_definitions_on_random_images():
    rng = np.random.default_rng(1)
    for shape in ((7, 9), (31, 17), (64, 48)):
        a = rng.integers(0, 256, size=(*shape, 3))
        img = ro(a)
        y = float_luma(a)
        assert builtin("brightness")(img) == pytest.approx(y.mean() / 255, abs=1e-12)
        assert builtin("contrast")(img) == pytest.approx(y.std() / 127.5, abs=1e-12)
        lap = (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1])
        assert builtin("sharpness")(img) == pytest.approx(lap.std() / 1020, rel=1e-9)
        counts = np.bincount(np.floor(np.round(y, 9) + 0.5).astype(int).ravel(), minlength=256)
        p = counts[counts > 0] / counts.sum()
        assert builtin("entropy")(img) == pytest.approx(-(p * np.log2(p)).sum(), abs=1e-12)
        af = a.astype(np.float64)
        rg = af[..., 0] - af[..., 1]
        yb = (af[..., 0] + af[..., 1]) / 2 - af[..., 2]
        cf = np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
        assert builtin("colorfulness")(img) == pytest.approx(cf, rel=1e-12)


def hsv_band_fraction(a, band):
    hits = 0
    for r, g, b in a.reshape(-1, 3) / 255.0:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        deg = h * 360
        in_band = (band == "red" and (deg <= 20 + 1e-9 or deg >= 340 - 1e-9)
                   or band == "green" and 70 - 1e-9 <= deg <= 150 + 1e-9
                   or band == "blue" and 180 - 1e-9 <= deg <= 260 + 1e-9)
        if s >= 50 / 255 - 1e-12 and v >= 40 / 255 - 1e-12 and in_band:
            hits += 1
    return hits / (a.size // 3)


def test_colour_bands_equal_the_hsv_definition():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(40, 50, 3))
    # add exact boundary cases: hue 20, 340, 70, 150, 180, 260; S = 50/255; V = 40
    edge = np.array([[255, 85, 0], [255, 0, 85], [170, 255, 0], [0, 255, 127.5],
                     [0, 255, 255], [85, 0, 255], [255, 205, 205], [40, 0, 0], [39, 0, 0],
                     [0, 40, 0], [0, 0, 40]])
    a[0, :len(edge)] = np.round(edge)
    img = ro(a)
    for band in ("red", "green", "blue"):
        assert builtin(f"{band}ness")(img) == pytest.approx(hsv_band_fraction(a, band),
                                                           abs=1e-12)


def test_pure_colours():
    red = ro(np.tile([200, 10, 10], (3, 3, 1)))
    assert builtin("redness")(red) == 1.0 and builtin("greenness")(red) == 0.0
    gray = ro(np.tile([120, 120, 120], (3, 3, 1)))
    assert builtin("redness")(gray) == 0.0


def test_crop_bounds_floor_ceil_clip_and_one_pixel():
    assert crop_bounds(1.5, 2.2, 3.0, 1.1, 10, 10) == (2, 4, 1, 5)
    assert crop_bounds(-5, -5, 8, 8, 10, 10) == (0, 3, 0, 3)         # partly outside
    assert crop_bounds(20, 20, 5, 5, 10, 10) == (9, 10, 9, 10)        # wholly outside
    assert crop_bounds(3.2, 3.2, 0.1, 0.1, 10, 10) == (3, 4, 3, 4)    # tiny: one pixel
    with pytest.raises(ValueError):
        crop_bounds(float("nan"), 0, 1, 1, 10, 10)


def test_object_metrics_on_crops_and_boxes():
    a = np.zeros((10, 20, 3), dtype=np.uint8)
    a[2:6, 4:10] = [250, 0, 0]
    img = ro(a)
    c = crop(img, 4, 2, 6, 4)
    assert builtin("object_redness", "object")(c) == 1.0
    assert builtin("object_brightness", "object")(c) == pytest.approx(0.299 * 250 / 255)
    one = crop(img, 0, 0, 0.5, 0.5)
    assert one.shape == (1, 1, 3)
    assert builtin("object_contrast", "object")(one) == 0.0
    assert np.isnan(builtin("object_sharpness", "object")(one))
    row = {"bbox_x": 4.0, "bbox_y": 2.0, "bbox_w": 6.0, "bbox_h": 4.0, "image_width": 20,
           "image_height": 10}
    assert builtin("box_area", "object")(None, row) == 24.0
    assert builtin("box_relative_area", "object")(None, row) == 24 / 200
    assert builtin("box_aspect_ratio", "prediction")(None, row) == 1.5
    # max(x1/W, y1/H, 1 - x0/W, 1 - y0/H) = max(0.5, 0.6, 0.8, 0.8)
    assert builtin("border_closeness", "object")(None, row) == pytest.approx(0.8)
    assert builtin("border_closeness", "object")(None, dict(row, bbox_x=0.0)) == 1.0


def test_grayscale_and_16bit_and_palette_decode(tmp_path):
    g = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    rgb = decode_rgb(tmp_path / "g.png")
    assert rgb.shape == (8, 8, 3) and (rgb[..., 0] == g).all() and (rgb[..., 2] == g).all()
    g16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    rgb16 = decode_rgb(tmp_path / "g16.png")
    assert rgb16[0, 1, 0] == round(1000 * 255 / 65535) and rgb16.max() == round(63000 * 255 / 65535)
    p = Image.fromarray((np.zeros((4, 4, 3)) + [10, 200, 30]).astype(np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE)
    p.save(tmp_path / "p.png")
    assert tuple(decode_rgb(tmp_path / "p.png")[0, 0]) == (10, 200, 30)
    img = ro(decode_rgb(tmp_path / "g.png"))
    assert builtin("colorfulness")(img) == 0.0 and builtin("redness")(img) == 0.0


def test_annotation_duplicate_and_max_overlap(tmp_path):
    import json

    from helpers import make_coco
    p = make_coco(tmp_path, n=2)
    data = json.loads(p["annotations"].read_text())
    # exact duplicate of annotation 100 (same category) and a half-overlapping other category
    data["annotations"].append({"id": 900, "image_id": 1, "category_id": 1,
                                "bbox": [16, 12, 16, 12], "area": 192, "iscrowd": 0})
    data["annotations"].append({"id": 901, "image_id": 1, "category_id": 2,
                                "bbox": [24, 12, 16, 12], "area": 192, "iscrowd": 0})
    p["annotations"].write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(p["images"], p["annotations"])
    f = qw.compute_metrics(ds, metrics=["annotation_duplicate", "max_overlap", "object_count"],
                           workers=1, cache_dir=False, progress=False)
    assert f.objects.loc[900, "annotation_duplicate"] == 1.0
    assert f.objects.loc[100, "annotation_duplicate"] == 1.0
    assert f.objects.loc[901, "annotation_duplicate"] == 0.0
    assert f.objects.loc[901, "max_overlap"] == pytest.approx(96 / (192 + 192 - 96))
    assert f.objects.loc[110, "max_overlap"] == pytest.approx(
        f.objects.loc[110, "max_overlap"])  # defined for every row
    assert f.images.loc[1, "object_count"] == 4 and f.images.loc[2, "object_count"] == 2


def test_near_duplicates_found_on_coco128(coco128, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(coco128 / "images", images)
    src = images / "000000000009.jpg"
    im = Image.open(src)
    im.resize((im.width // 2, im.height // 2)).save(images / "zz_copy_of_9.jpg", quality=70)
    # two uniform images of different colours must not be grouped; equal colours must
    Image.new("RGB", (50, 40), (10, 200, 10)).save(images / "zz_flat_green.png")
    Image.new("RGB", (60, 30), (200, 10, 10)).save(images / "zz_flat_red.png")
    Image.new("RGB", (60, 30), (200, 10, 10)).save(images / "zz_flat_red2.png")
    ds = qw.Dataset.from_folder(images)
    f = qw.compute_metrics(ds, metrics=["uniqueness"], cache_dir=False, progress=False)
    by_name = f.images.set_index("file_name")
    assert by_name.loc["zz_copy_of_9.jpg", "uniqueness"] <= 0.1
    assert by_name.loc["zz_copy_of_9.jpg", "duplicate_group"] == \
        by_name.loc["000000000009.jpg", "duplicate_group"]
    assert by_name.loc["zz_flat_red.png", "duplicate_group"] == \
        by_name.loc["zz_flat_red2.png", "duplicate_group"]
    assert by_name.loc["zz_flat_red.png", "duplicate_group"] != \
        by_name.loc["zz_flat_green.png", "duplicate_group"]
    originals = by_name.loc[[n for n in by_name.index if not n.startswith("zz_")]]
    groups = originals["duplicate_group"].value_counts()
    # ordinary COCO images are not duplicates of each other
    assert (groups == 1).all(), groups[groups > 1]
    assert originals.drop(index="000000000009.jpg")["uniqueness"].min() > 0.1


def test_embeddings_uniqueness():
    from quality_widgets.compute.similarity import nearest_distance
    e = np.array([[1.0, 0], [0.99, 0.01], [0, 1.0]])
    d = nearest_distance(e)
    assert d[0] == pytest.approx(d[1]) and d[0] < 1e-3 and d[2] == pytest.approx(
        1 - 0.01 / np.hypot(0.99, 0.01))


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (3, 3), (31, 17), (120, 90)])
@pytest.mark.parametrize("parent_first", [False, True])
def test_compiled_and_numpy_summaries_are_identical(shape, parent_first, monkeypatch):
    """The numba kernel and the numpy fallback compute the same exact sums, also on a strided
    crop view as object metrics receive (read in place from its image when the image was
    summarised first, as the engine does; copied otherwise)."""
    from quality_widgets.compute import _summary_kernel
    if not _summary_kernel.HAVE_NUMBA:
        pytest.skip("numba not installed: only the numpy path exists")
    rng = np.random.default_rng(sum(shape))
    big = rng.integers(0, 256, size=(shape[0] + 4, shape[1] + 5, 3)).astype(np.uint8)
    big.setflags(write=False)
    if parent_first:
        px.summary(big)
    view = big[2:2 + shape[0], 3:3 + shape[1]]
    fast = px.summary(view)
    fast_hist = px.luma_histogram(view)
    monkeypatch.setattr(px, "USE_NUMBA", False)
    other = ro(view.copy())          # a new array: nothing memoised from the compiled path
    assert fast == px.summary(other)
    assert (fast_hist == px.luma_histogram(other)).all()
    assert fast_hist.sum() == shape[0] * shape[1]



@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (3, 3), (31, 17), (120, 90)])
def test_masked_summary_equals_the_summary_of_the_gathered_pixels(shape, monkeypatch):
    """The one-pass masked sums (numba) equal the summary of exactly the mask's pixels
    gathered by hand, for empty, full and random masks on a crop view; the crop's own sums
    that the same pass leaves for the box metrics equal its summary; the numpy fallback
    agrees."""
    from quality_widgets.compute import _summary_kernel
    rng = np.random.default_rng(7 + sum(shape))
    big = ro(rng.integers(0, 256, size=(shape[0] + 4, shape[1] + 5, 3)).astype(np.uint8))
    px.summary(big)                   # as the engine does: the crop is read in place
    view = big[2:2 + shape[0], 3:3 + shape[1]]
    masks_ = [np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) < 0.3]
    fast = []
    for mask in masks_:
        got = px.masked_summary(view, mask)
        fast.append(got)
        pixels = view[mask].reshape(-1, 1, 3)
        want = px.summary(ro(pixels.copy())) if len(pixels) else dict.fromkeys(got, 0)
        assert got["n"] == mask.sum()
        assert {k: v for k, v in got.items() if "lap" not in k} == \
            {k: v for k, v in want.items() if "lap" not in k}
        assert got["n_lap"] == got["s_lap"] == got["s_lap2"] == 0
        if len(pixels):
            assert px.colorfulness_of(got) == px.colorfulness(ro(pixels.copy()))
    if _summary_kernel.HAVE_NUMBA:   # the crop's sums were left by the masked pass
        assert px.summary(view) == px.summary(ro(view.copy()))
    monkeypatch.setattr(px, "USE_NUMBA", False)
    for mask, got in zip(masks_, fast, strict=True):
        slow = px.masked_summary(ro(view.copy()), mask)
        assert {k: v for k, v in slow.items() if "lap" not in k} == \
            {k: v for k, v in got.items() if "lap" not in k}

def test_round_luma_multiply_shift_is_exact_for_every_luma_value():
    q = np.arange(0, 255_001, dtype=np.int64)
    assert np.array_equal(((q + 500) * 67109) >> 26, (q + 500) // 1000)


def test_luma_blocks_compiled_and_numpy_agree(monkeypatch):
    rng = np.random.default_rng(5)
    for shape in ((97, 131), (32, 32), (20, 50)):
        a = rng.integers(0, 256, size=(*shape, 3)).astype(np.uint8)
        a.setflags(write=False)
        fast = px.luma_blocks(a)
        monkeypatch.setattr(px, "USE_NUMBA", False)
        b = a.copy()
        b.setflags(write=False)
        slow = px.luma_blocks(b)
        monkeypatch.setattr(px, "USE_NUMBA", True)
        assert fast.shape == (32, 32) and np.allclose(fast, slow, rtol=0, atol=1e-12)
    # hand check: a 64 x 64 image with a bright left half -> left 16 columns of blocks bright
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = 200
    img.setflags(write=False)
    blocks = px.luma_blocks(img)
    assert np.allclose(blocks[:, :16], 200) and np.allclose(blocks[:, 16:], 0)
