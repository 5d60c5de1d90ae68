"""Checks of the BlazePose baseline script (`baselines/blazepose.py`) that need neither mediapipe nor images: the crop
geometry and the landmark mapping. The script itself runs in its own environment (`make baseline`)."""
import json, sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "baselines"))
import blazepose as bp                      # imports only numpy and PIL at module level


def test_square_crop_box_is_centred_and_covers_the_enlarged_box():
    x0, y0, side = bp.square_crop_box([10.0, 20.0, 100.0, 50.0])
    assert side == 125                                        # ceil(1.25 * max(w, h))
    # crop pixels x0 .. x0 + side - 1 are centred on the box centre (60, 45) to within half a pixel
    assert abs(x0 + (side - 1) / 2 - 60.0) <= 0.5 and abs(y0 + (side - 1) / 2 - 45.0) <= 0.5
    assert x0 - 0.5 <= 10 - 0.125 * 100 / 2 and x0 + side - 0.5 >= 110 + 0.125 * 100 / 2
    with pytest.raises(ValueError): bp.square_crop_box([0, 0, 0, 10])


def test_crop_square_zero_fills_outside_the_image():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)       # H=4, W=5
    c = bp.crop_square(img, -2, 1, 6)
    assert c.shape == (6, 6, 3)
    assert (c[:, :2] == 0).all() and (c[3:] == 0).all()                 # left of x=0, below y=3
    assert (c[0:3, 2:6] == img[1:4, 0:4]).all()                         # crop row r, column c = image row r + 1, column c - 2


def test_landmarks_map_to_coco17_in_image_pixels():
    x0, y0, side = 7, -3, 40
    # landmark k sits at the centre of crop pixel (k, 2k): normalised (k + 0.5) / side
    lms = [SimpleNamespace(x=(k + 0.5) / side, y=(2 * k + 0.5) / side, visibility=k / 32) for k in range(33)]
    xy, vis = bp.landmarks_to_coco17(SimpleNamespace(landmark=lms), x0, y0, side)
    idx = np.array(bp.MP_TO_COCO17)
    np.testing.assert_allclose(xy, np.stack([x0 + idx, y0 + 2 * idx], 1), atol=1e-9)
    np.testing.assert_allclose(vis, idx / 32)
    assert bp.MP_TO_COCO17[5:7] == (11, 12) and bp.MP_TO_COCO17[-2:] == (27, 28)   # left/right shoulders ... ankles
    with pytest.raises(ValueError): bp.landmarks_to_coco17(SimpleNamespace(landmark=lms[:17]), 0, 0, 1)
