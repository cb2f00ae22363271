"""The masks and keypoints notebook in JupyterLab: it runs top to bottom, and the galleries the
browser shows draw the objects' masks and skeletons.

The mask tile is checked against thumbnails rendered here from the sample (independently of
the kernel in the page): it must be the thumbnail with the label's mask filled in, and must
differ from the plain box thumbnail inside the mask. The skeleton tile must show the white
keypoint dots and limbs that the plain thumbnail does not have, inside the person's box."""
import base64
import io
import re

import numpy as np
import pytest
from lab_page import open_notebook, run_all, wait_for_all_cells
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def tile_image(tile) -> tuple[np.ndarray, int]:
    """(RGB pixels, annotation id) of a gallery tile shown in the page."""
    src = tile.locator("img").get_attribute("src")
    assert src.startswith("data:image/jpeg;base64,")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    caption = tile.locator("figcaption").inner_text()
    return pixels.astype(int), int(re.search(r"annotation_id (\d+)", caption).group(1))


def rendered(ds, annotation_id, mode="box", **shapes) -> np.ndarray:
    from quality_widgets.widgets.gallery import BOX_COLOR
    from quality_widgets.widgets.thumbnails import ThumbnailRequest, render_thumbnail
    a = ds.annotations.loc[annotation_id]
    im = ds.images.loc[a["image_id"]]
    # Object rows carry no image size, so the gallery decodes them at full size: as here.
    request = ThumbnailRequest(im["path"], mode=mode,
                               box=(a["bbox_x"], a["bbox_y"], a["bbox_w"], a["bbox_h"]),
                               color=BOX_COLOR, **shapes)
    return np.asarray(Image.open(io.BytesIO(render_thumbnail(request)))).astype(int)


def test_masks_notebook_gallery_draws_masks_and_skeletons(page, lab, artifacts):
    import quality_widgets as qw
    from quality_widgets.data import masks

    open_notebook(page, lab, "masks_and_keypoints.ipynb")
    run_all(page)
    wait_for_all_cells(page, timeout=600_000)
    galleries = page.locator(".jp-OutputArea-output", has=page.locator("figure.qw-tile"))
    expect(galleries).to_have_count(2)

    # The mask explorer: its first tile is a label with its mask filled in.
    first = galleries.nth(0).locator("figure.qw-tile").first
    first.scroll_into_view_if_needed()
    shown, ann_id = tile_image(first)
    ds = qw.load_sample()
    seg = ds.annotations.loc[ann_id, "segmentation"]
    with_mask = rendered(ds, ann_id, segmentation=seg)
    plain = rendered(ds, ann_id)
    assert shown.shape == with_mask.shape
    assert np.abs(shown - with_mask).mean() < 1.0           # the same picture (JPEG noise)
    changed = np.abs(shown - plain).sum(axis=2) > 40
    im = ds.images.loc[ds.annotations.loc[ann_id, "image_id"]]
    mask = masks.decode(seg, int(im["height"]), int(im["width"]))
    small = np.asarray(Image.fromarray(mask).resize(shown.shape[1::-1], Image.NEAREST))
    assert changed.sum() > 20 and changed[small].mean() > 0.5
    galleries.nth(0).screenshot(path=str(artifacts / "lab-masks-gallery.png"))

    # The keypoint explorer, in crop mode: the first tile is a person with its skeleton drawn
    # (white keypoint dots that the plain crop does not have).
    gallery = galleries.nth(1)
    tile = gallery.locator("figure.qw-tile").first
    before = tile.locator("img").get_attribute("src")
    gallery.locator("button", has_text=re.compile(r"^\s*crop\s*$")).click()
    expect(tile.locator("img")).not_to_have_attribute("src", before, timeout=60_000)
    tile.scroll_into_view_if_needed()
    shown, ann_id = tile_image(tile)
    assert ds.annotations.loc[ann_id, "category"] == "person"
    plain = rendered(ds, ann_id, mode="crop")
    assert shown.shape == plain.shape
    white_new = (shown.min(axis=2) > 215) & (plain.min(axis=2) < 150)
    assert white_new.sum() >= 20, white_new.sum()
    gallery.screenshot(path=str(artifacts / "lab-skeleton-gallery.png"))
