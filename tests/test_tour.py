"""`python -m kerasgp tour`, README's main job: the whole path (data, training, scoring, int8, timing) at a
tiny size, and a missing data set that cannot be fetched stops it at once with the fetch advice."""
import pytest

from kerasgp.cli import main
from kerasgp.experiments import tour

from conftest import require

pytestmark = [pytest.mark.slow, pytest.mark.tflite]


def test_the_tour_trains_scores_converts_and_times_one_model(tmp_path, capsys):
    require("lspet")
    assert main(["tour", "--people", "32", "--val-people", "8", "--epochs", "1", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    for model in ("tour (Keras)", "tour (TFLite float32)", "tour (TFLite int8)"):
        assert model in out
    assert "trained on 32 LSPET people for 1 epochs" in out and "first 8 LSPET val people" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["tour.keras", "tour_float32.tflite", "tour_int8.tflite"]
    # int8 stores a byte per weight where float32 stores four
    assert (tmp_path / "tour_int8.tflite").stat().st_size < 0.5 * (tmp_path / "tour_float32.tflite").stat().st_size


def test_without_lspet_and_without_network_the_tour_stops_at_once_with_the_fetch_advice(tmp_path, monkeypatch,
                                                                                        capsys):
    import kerasgp.data as kd
    from kerasgp.data.download import DownloadError

    def offline(name, *args, **kwargs):  # what fetch raises when no source can be reached
        raise DownloadError(f"no source of {name}.zip worked:\n"
                            f"  https://example.org/{name}.zip: [Errno -2] Name or service not known")

    monkeypatch.setattr(kd, "find", lambda name: None)
    monkeypatch.setattr(kd, "fetch", offline)
    monkeypatch.setattr(tour, "train_recipe", lambda *a, **k: pytest.fail("trained without data"))
    assert main(["tour", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data set 'lspet' not found, and no source of lspet.zip worked: "
                          "https://example.org/lspet.zip: [Errno -2] Name or service not known"), err
    assert len(err.strip().splitlines()) == 1


def test_a_tour_too_small_to_train_is_refused(tmp_path):
    with pytest.raises(ValueError, match="train_people >= 32"):
        tour.run(train_people=8, out=tmp_path)
