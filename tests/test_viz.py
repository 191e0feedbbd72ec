import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasgp.data import LSP14  # noqa: E402
from kerasgp.viz import draw_pose, side_colour  # noqa: E402

pytestmark = pytest.mark.backend_free


def test_draw_pose_draws_limbs_between_visible_joints_only():
    keypoints = np.arange(28, dtype=float).reshape(14, 2)
    visibility = np.ones(14)
    visibility[13] = 0  # head top hidden: the neck-head limb is not drawn
    fig, ax = plt.subplots()
    draw_pose(ax, keypoints, visibility, LSP14)
    assert len(ax.lines) == len(LSP14.skeleton) - 1
    assert len(ax.collections[0].get_offsets()) == 13
    plt.close(fig)


def test_sides_have_their_colours():
    assert (side_colour("l_wrist"), side_colour("r_wrist"), side_colour("neck")) == ("tab:blue", "tab:red", "tab:green")
