"""The lessons' exercises: every check passes on its solution, fails on each typical wrong answer with the
words that tell the learner why, and reads "not done yet" on the stub; the lessons hold the stubs with
nbgrader's metadata, and the instructor's source notebooks give back exactly the lessons when nbgrader
clears them. Cheap: the checks and solutions run as functions, no lesson is executed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import keras
from keras import ops

from kerasgp.exercises import EXERCISES, check, course, passes, run
from kerasgp.analysis import cost
from kerasgp.exercises.lesson00 import crop_matrix_reference
from kerasgp.exercises.lesson01 import _people, pckh_reference
from kerasgp.exercises.lesson02 import residual_stem_paths
from kerasgp.exercises.lesson03 import shared_channels
from kerasgp.exercises.lesson05 import concat_widths_reference
from kerasgp.exercises.lesson06 import depthwise_memory_access
from kerasgp.exercises.lesson07 import _shuffled
from kerasgp.exercises.lesson10 import simcc_soft_argmax_reference
from kerasgp.exercises.lesson11 import presence_reference
from kerasgp.exercises.lesson12 import _affine_reference
from kerasgp.layers import ChannelShuffle, MaskedResidual, QuadraticDense
from kerasgp.metrics import pckh

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
SOLUTIONS = course.load_solutions()


def _stub(*args):
    raise NotImplementedError()


@pytest.mark.backend_free
def test_every_exercise_has_a_solution_and_wrong_answers():
    assert set(SOLUTIONS.SOLUTIONS) == set(EXERCISES) == set(SOLUTIONS.WRONG)
    assert all(len(wrong) >= 1 for wrong in SOLUTIONS.WRONG.values())


@pytest.mark.backend_free
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_check_passes_the_solution_and_waits_for_the_stub(name, capsys):
    assert run(name, SOLUTIONS.SOLUTIONS[name])[0] == "right"
    assert passes(name, SOLUTIONS.SOLUTIONS[name]) and not passes(name, _stub) and not passes(name, None)
    assert check(name, SOLUTIONS.SOLUTIONS[name]) is None and check(name, _stub) is None  # printed, not returned
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"{name}: right") and printed[1] == (
        f"{name}: not done yet: the cell above still holds the stub (raise NotImplementedError())")


@pytest.mark.backend_free
@pytest.mark.parametrize("name,index", [(n, i) for n in sorted(EXERCISES) for i in range(len(SOLUTIONS.WRONG[n]))])
def test_the_check_fails_a_typical_wrong_answer_and_says_why(name, index):
    answer, words = SOLUTIONS.WRONG[name][index]
    status, message = run(name, answer)
    assert status == "wrong" and words in message, message


@pytest.mark.backend_free
def test_an_answer_that_crashes_is_reported_not_raised():
    def broken(upstream, fraction):
        return upstream[..., :fraction.size]  # a float has no .size

    status, message = run("03.masked_residual_gradient", broken)
    assert status == "wrong" and "it raised AttributeError" in message and "fraction.size" in message


def test_the_references_of_the_checks_agree_with_the_package():
    from kerasgp.data.transforms import crop_matrices  # lesson 00's reference is the pipeline's crop

    for center, scale, size in (((57.5, 130.0), (90.0, 120.0), (96, 128)), ((320.0, 240.0), (200.0, 200.0), (128, 128))):
        np.testing.assert_allclose(crop_matrices([center], [scale], size)[0], crop_matrix_reference(center, scale, size),
                                   atol=1e-4)
    pred, gt, visible, head = _people(np.random.default_rng(1))  # lesson 01's reference is metrics.pckh
    for threshold in (0.5, 0.1):
        assert pckh_reference(pred, gt, visible, head, threshold) == pytest.approx(
            pckh(pred, gt, visible, head, threshold).total, abs=1e-9)
    # lesson 02's reference is what the path analyser counts on such a network
    from kerasgp.analysis import gradient_paths

    for units, convs in ((3, 2), (2, 3)):
        image = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(image)
        for u in range(units):
            y = x
            for c in range(convs):
                y = keras.layers.Conv2D(4, 3, padding="same", name=f"unit{u}_conv{c}")(y)
            x = keras.layers.Add()([x, y])
        logits = keras.layers.Dense(2, name="fc")(keras.layers.GlobalAveragePooling2D()(x))
        row = gradient_paths(keras.Model(image, logits)).row("stem")
        assert (list(row["timestamps"]), int(row["num_paths"])) == residual_stem_paths(units, convs)
    from kerasgp.layers import osa_module  # lesson 05's widths are what the package's OSA modules concatenate

    for design in ("per_module", "planned"):
        x = image = keras.Input((8, 8, 32))
        for i in range(1, 4):
            x = osa_module(x, 16, 32, 4, transition=design == "per_module" or i == 3, name=f"osa{i}")
        model = keras.Model(image, x)
        widths = [model.get_layer(f"osa{i}_concat").output.shape[-1] for i in range(1, 4)]
        assert widths == concat_widths_reference(design, 3, 32, 16, 4)
    # the masked residual is linear in its identity: its gradient there is the mask, MaskedResidual([0, 1])
    for channels, fraction in ((8, 0.5), (6, 0.25), (7, 0.0), (10, 0.35)):
        ones = np.ones((1, 1, 1, channels), np.float32)
        mask = ops.convert_to_numpy(MaskedResidual(fraction)([0 * ones, ones])).ravel()
        shared = shared_channels(channels, fraction)
        assert mask.tolist() == [1.0] * shared + [0.0] * (channels - shared)
    for channels, groups in ((8, 2), (12, 3), (12, 4)):
        x = np.arange(channels, dtype=np.float32).reshape(1, 1, 1, channels)
        shuffled = ops.convert_to_numpy(ChannelShuffle(groups)(x)).ravel().astype(int).tolist()
        assert shuffled == _shuffled(channels, groups)
    scale, zero = _affine_reference(0.0, 1.0)  # the converter's choice for the pose models' [0, 1] input
    assert abs(scale - 1 / 255) < 1e-12 and zero == -128
    for h, w, c, k, stride in ((56, 56, 24, 3, 1), (7, 9, 40, 5, 2)):  # what cost() counts (lesson 06)
        image = keras.Input((h, w, c))
        model = keras.Model(image, keras.layers.DepthwiseConv2D(k, stride, padding="same", use_bias=False)(image))
        assert cost(model).memory_access == depthwise_memory_access(h, w, c, k, stride)
    # lesson 04's reference has csp_stage's layout: the cross part is channels [0, C - round(r C)), and the
    # concatenation takes [block path, cross part]
    from kerasgp.layers import ChannelSlice, csp_stage

    image = keras.Input((4, 4, 5))
    model = keras.Model(image, csp_stage(image, lambda part, name: part, 5, name="csp", split="slice",
                                         transition="fusion_last", part_ratio=0.4))
    cross, concat = model.get_layer("csp_cross"), model.get_layer("csp_concat")
    assert isinstance(cross, ChannelSlice) and (cross.start, cross.stop) == (0, 3)
    assert concat.input[1] is cross.output and concat.input[0] is model.get_layer("csp_block_transition_relu").output
    # lesson 09's solution is the search's own expected latency
    from kerasgp.experiments.search import expected_latency

    logits, table = np.random.default_rng(2).normal(size=(5, 4)), np.random.default_rng(3).uniform(size=(5, 4))
    assert SOLUTIONS.expected_latency(logits, table) == pytest.approx(expected_latency(logits, table), rel=1e-12)
    # lesson 10's reference is SimCCDecode's soft-argmax (units "pixels")
    from kerasgp.pose.heads import SimCCDecode

    logits = np.random.default_rng(1).normal(size=(1, 3, 256)).astype("float32") * 4
    decoded = ops.convert_to_numpy(SimCCDecode((128, 128), 2.0, mode="soft_argmax", units="pixels")([logits, logits]))
    np.testing.assert_allclose(decoded[0, :, 0], simcc_soft_argmax_reference(logits[0], 2.0), atol=1e-3)
    from kerasgp.data.targets import target_weights  # lesson 11's presence is the training target's weight

    points = np.random.default_rng(4).uniform(-5, 135, size=(3, 14, 2))
    visibility = np.random.default_rng(5).integers(0, 3, size=(3, 14))
    assert np.array_equal(presence_reference(points, visibility, (128, 96)), target_weights(points, visibility, (128, 96)))
    # the solution of lesson 08 is what QuadraticDense computes, with its weights
    layer = QuadraticDense(1, rank=3)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    layer.build(x.shape)
    layer.set_weights([np.random.default_rng(i).normal(size=v.shape).astype("float32")
                       for i, v in enumerate(layer.get_weights())])
    kernel_a, kernel_b, kernel_c, bias = layer.get_weights()  # (rank, n, units), (rank, n, units), (n, units), (units,)
    by_hand = SOLUTIONS.quadratic_neuron(x, kernel_a[:, :, 0], kernel_b[:, :, 0], kernel_c[:, 0], bias[0])
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x))[:, 0], by_hand, rtol=1e-4, atol=1e-4)


def _notebooks():
    return {path.name: json.loads(path.read_text()) for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))}


@pytest.mark.backend_free
def test_the_lessons_hold_each_exercise_once_as_an_nbgrader_stub_with_a_locked_check():
    seen, ids = [], []
    for name, notebook in _notebooks().items():
        for solution_index, check_index, exercise in course.exercise_cells(notebook):
            cell, graded = notebook["cells"][solution_index], notebook["cells"][check_index]
            assert course._STUB.search("".join(cell["source"])), (name, exercise)
            meta = graded["metadata"]["nbgrader"]
            assert meta["locked"] and meta["grade"] and meta["points"] >= 1 and not meta["solution"]
            ids += [cell["metadata"]["nbgrader"]["grade_id"], meta["grade_id"]]
            text = "".join("".join(o.get("text", "")) for o in graded.get("outputs", []))  # a str or a list of lines
            waiting = f"{exercise}: not done yet: the cell above still holds the stub (raise NotImplementedError())"
            assert text.strip() == waiting, (name, text)
            seen.append(exercise)
    assert sorted(seen) == sorted(EXERCISES)
    assert len(ids) == len(set(ids))


@pytest.mark.backend_free
def test_the_instructors_source_clears_back_to_the_lessons_and_its_solutions_pass(tmp_path):
    written = course.write_course(tmp_path)
    assert {p.name for p in written} == {name for name, nb in _notebooks().items() if course.exercise_cells(nb)}
    for path in written:
        learner = json.loads((LESSONS / path.name).read_text())
        source = json.loads(path.read_text())
        assert "### BEGIN SOLUTION" in path.read_text() and "### BEGIN HIDDEN TESTS" in path.read_text()
        cleared = course.learner_copy(source)
        assert ["".join(c["source"]) for c in cleared["cells"]] == ["".join(c["source"]) for c in learner["cells"]]
        for solution_index, check_index, exercise in course.exercise_cells(learner):
            namespace = {"np": np, "check": check}
            exec("".join(source["cells"][solution_index]["source"]), namespace)  # the filled-in solution cell
            exec("".join(source["cells"][check_index]["source"]), namespace)  # with its hidden assert


@pytest.mark.backend_free
def test_every_lesson_code_cell_has_a_stored_execution():
    # nbval compares stored outputs, and fails a cell that holds outputs but no execution count ("unrun reference
    # cell has outputs"); a stub cell without outputs was run too (it defines the function its check calls)
    unrun = [(name, i) for name, notebook in _notebooks().items() for i, cell in enumerate(notebook["cells"])
             if cell["cell_type"] == "code" and cell.get("execution_count") is None]
    assert unrun == []
