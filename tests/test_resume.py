"""An interrupted training resumes from its epoch checkpoint and ends where an uninterrupted run ends."""
import keras
import numpy as np
import pytest

from kerasgp.experiments import recipe, runner

from conftest import require


class Interrupt(Exception):
    pass


def _stop_at(epoch: int):
    class StopAt(keras.callbacks.Callback):  # a crash after `epoch` epochs were saved
        def on_epoch_begin(self, e, logs=None):
            if e == epoch:
                raise Interrupt(f"stopped before epoch {e}")

    return StopAt()


@pytest.mark.slow
def test_a_run_stopped_after_one_epoch_resumes_and_ends_with_the_uninterrupted_weights(tmp_path):
    require("lspet")
    # three epochs of two steps, so the resumed run needs the optimizer's step (the full scale's schedule:
    # warm-up, then x0.1 at epoch 2), Adam's moments and the data order of epochs 1 and 2, not just the weights
    r = {**recipe("heads", "rle", "smoke"), "epochs": 3, "train_people": 32, "val_people": 16, "scale": "smoke",
         "lr_schedule": "multistep", "lr_milestones": (2,), "warmup_steps": 3, "flip_test": True}
    whole, whole_row = runner.train_recipe(r, "whole", progress=False)
    keras.backend.clear_session()

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(Interrupt):
        runner.train_recipe(r, "parts", progress=False, checkpoint_dir=checkpoints, callbacks=[_stop_at(1)])
    assert runner.checkpoint_epoch(checkpoints) == 1  # epoch 0's state was saved before the crash
    keras.backend.clear_session()
    resumed, resumed_row = runner.train_recipe(r, "parts", progress=False, checkpoint_dir=checkpoints)
    assert runner.checkpoint_epoch(checkpoints) == 0  # finished: the checkpoint is gone

    for a, b in zip(whole.weights, resumed.weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-4,
                                   err_msg=f"{a.path} differs after resuming")
    assert resumed_row["final_loss"] == pytest.approx(whole_row["final_loss"], abs=1e-3)
    assert resumed_row["pckh@0.5"] == pytest.approx(whole_row["pckh@0.5"], abs=0.5)

