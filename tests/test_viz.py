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


def _shuffle_units():
    import keras

    from kerasgp.backbones.shufflenet_v2 import shuffle_unit

    units = {}
    for stride, channels in ((1, 48), (2, 96)):
        x = keras.Input((16, 16, 48))
        units[stride] = keras.Model(x, shuffle_unit(x, channels, stride, name="unit"))
    return units


def test_a_block_diagram_is_drawn_from_its_layer_graph_downward():
    from kerasgp.analysis.gradient_paths import layer_calls
    from kerasgp.viz import draw_graph, layer_label

    for stride, model in _shuffle_units().items():
        fig, ax = plt.subplots()
        positions = draw_graph(model, ax)
        calls = layer_calls(model)
        assert sorted(positions) == list(range(len(calls)))  # every call of the graph is drawn
        for i, (layer, predecessors) in enumerate(calls):
            for p in predecessors:  # data flows down: a call sits below what feeds it, or in its box
                folded = type(layer).__name__ in ("BatchNormalization", "ReLU", "Activation")
                assert positions[p][1] > positions[i][1] or (folded and positions[p] == positions[i])
        # conv, BN and ReLU share one box: three calls, one box, labelled with all three
        boxes = {positions[i] for i in range(len(calls))}
        convs = [i for i, (layer, _) in enumerate(calls) if type(layer).__name__ == "Conv2D"]
        assert len(boxes) == len(calls) - sum(type(layer).__name__ in ("BatchNormalization", "ReLU", "Activation")
                                               for layer, _ in calls)
        assert all(positions[c] in boxes for c in convs)
        texts = [t.get_text() for t in ax.texts]
        assert sum("1×1 conv + BN + relu" in t for t in texts) == (2 if stride == 1 else 3)
        assert any(t.startswith("shuffle (g=2)") for t in texts) and any("concat" in t for t in texts)
        plt.close(fig)
    assert layer_label(None) == "input"
