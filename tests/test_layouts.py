import numpy as np
import pytest

from kerasgp.data import COCO17, LSP14, MPII16, MPII_TO_LSP, get_layout

pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("layout,joints", [(LSP14, 14), (MPII16, 16), (COCO17, 17)])
def test_layouts_have_their_joint_count_and_valid_indices(layout, joints):
    assert layout.num_joints == joints
    for a, b in layout.flip_pairs + layout.skeleton:
        assert 0 <= a < joints and 0 <= b < joints


@pytest.mark.parametrize("layout", [LSP14, MPII16, COCO17])
def test_flip_pairs_swap_left_and_right_names(layout):
    for a, b in layout.flip_pairs:
        left, right = sorted([layout.joint_names[a], layout.joint_names[b]])
        assert left.startswith("l_") and right.startswith("r_") and left[2:] == right[2:]
    perm = layout.flip_permutation()
    assert sorted(perm) == list(range(layout.num_joints))
    assert (perm[perm] == np.arange(layout.num_joints)).all()  # flipping twice is the identity


def test_lsp_is_mpii_without_pelvis_and_thorax():
    assert [MPII16.joint_names[i] for i in MPII_TO_LSP] == [
        n.replace("neck", "upper_neck") if n == "neck" else n for n in LSP14.joint_names]
    assert {"pelvis", "thorax"}.isdisjoint(MPII16.joint_names[i] for i in MPII_TO_LSP)


def test_coco_oks_sigmas_are_cocoevals():
    from pycocotools.cocoeval import Params

    assert np.allclose(COCO17.sigmas, Params(iouType="keypoints").kpt_oks_sigmas)


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(ValueError, match="lsp14"):
        get_layout("h36m")
