"""The loaders on the real data sets (../shared/data through the data-root lookup)."""
import warnings

import numpy as np
import pytest
from conftest import require

from kerasgp.data import COCO17, LSP14, MPII16, DataWarning, load

pytestmark = pytest.mark.backend_free


def test_lspet_splits_are_the_first_6000_and_the_next_2000():
    require("lspet")
    with pytest.warns(DataWarning, match="marked invisible"):
        train = load("lspet", split="train")
    assert len(train) == 6000 and train[0].index == 0 and train[-1].index == 5999
    with pytest.warns(DataWarning):
        val = load("lspet", split="val")
    assert len(val) == 2000 and val[0].index == 6000 and val[-1].index == 7999
    assert val[0].image_path.endswith("im06001.jpg") and val.layout is LSP14


def test_all_lspet_people_load_and_the_six_noisy_joints_of_the_first_8000_are_reported():
    import scipy.io

    joints = scipy.io.loadmat(str(require("lspet") / "joints.mat"))["joints"]
    n = joints.shape[2]  # 8,000 in the offline copy, 10,000 in the public archive ("all" = everyone in the file)
    with pytest.warns(DataWarning) as caught:
        people = load("lspet")
    assert n in (8000, 10000) and len(people) == n and people.report.read == n and not people.report.skipped
    # the counts are those of people 0-7,999; the test people of the whole archive can only add to them
    changed = people.report.changed["visible joint outside its image, marked invisible"]
    assert changed == 6 if n == 8000 else changed >= 6
    assert list(people.report.changed) == ["visible joint outside its image, marked invisible"]
    assert f"changed {changed}" in str(caught[0].message)
    kp, vis = people.keypoints(), people.visibility()
    assert kp.shape == (n, 14, 2) and vis.shape == (n, 14)
    heads = people.head_sizes()
    # no head size unless neck and head top are both visible, counted straight from joints.mat
    flags = joints[12:14, 2, :]
    raw = int((flags.min(axis=0) == 0).sum())
    loaded = int((people.visibility()[:, 12:14].min(axis=1) == 0).sum())
    assert np.isnan(heads).sum() == loaded
    assert raw <= loaded <= raw + changed  # + necks/head tops among the joints marked invisible (outside the image)
    assert np.nanmax(heads) < 100 and 15 < np.nanmedian(heads) < 30
    # four of the first 8,000 have neck and head top on the same pixel (annotation noise); pckh leaves them out
    assert (heads[:8000] == 0).sum() == 4


def test_lspet_boxes_hold_the_visible_joints():
    require("lspet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        people = load("lspet", split="val")
    for r in people.records[:200]:
        x, y, w, h = r.bbox
        pts = r.keypoints[r.visibility > 0]
        assert (pts[:, 0] >= x - 1e-3).all() and (pts[:, 0] <= x + w + 1e-3).all()
        assert (pts[:, 1] >= y - 1e-3).all() and (pts[:, 1] <= y + h + 1e-3).all()
        # the box is tight around the visible joints: placeholders (one coordinate 0) do not stretch it
        assert np.isclose(x, pts[:, 0].min()) and np.isclose(y, pts[:, 1].min())


def test_mpii_sample_loads_with_center_scale_boxes_and_says_it_has_no_head_boxes():
    require("mpii-sample")
    with pytest.warns(DataWarning, match="no MPII head box"):
        people = load("mpii-sample")
    assert len(people) == 5 and people.layout is MPII16
    r = next(r for r in people.records if r.image_path.endswith("005808361.jpg"))  # center (966, 340), scale 4.718488
    side = 200 * 4.718488
    assert np.allclose(r.bbox, [966 - side / 2, 340 + 15 * 4.718488 - side / 2, side, side], atol=1e-2)
    assert r.head_size == pytest.approx(np.linalg.norm(r.keypoints[8] - r.keypoints[9]))


def test_coco_sample_and_mini_report_what_they_skip():
    require("coco-sample")
    with pytest.warns(DataWarning, match="no labelled keypoint"):
        sample = load("coco-sample")
    assert len(sample) == 12 and sample.report.read == 14 and sample.layout is COCO17
    assert all(r.image_id is not None for r in sample.records)
    require("coco-mini")
    with pytest.warns(DataWarning, match="crowd annotation"):
        mini = load("coco-mini")
    assert len(mini) == 86 and mini.report.read == 172
    assert dict(mini.report.skipped) == {"crowd annotation": 5, "no labelled keypoint (num_keypoints = 0)": 81}


def test_a_split_on_a_data_set_without_splits_is_an_error():
    require("coco-sample")
    with pytest.raises(ValueError, match="coco-sample has no splits"):
        load("coco-sample", split="train")
