"""Several seeds per variant: the runner trains and keeps one row per (variant, seed), and claims are
judged against the measured spread (kerasgp.experiments.seeds)."""
import csv
import json
import math

import pytest

from kerasgp.experiments import runner, seeds
from kerasgp.experiments.seeds import HELD, NOISE, NOT_HELD

pytestmark = pytest.mark.backend_free


def _fake(seen):
    def fake_train_recipe(r, name, progress=True, save_path=None, desc=None, init_dir=None, init_data=None,
                          checkpoint_dir=None, devices=None, workers=1):
        seen.append((name, r["seed"], str(save_path), str(checkpoint_dir)))
        return None, {"seed": r["seed"], "pckh@0.5": 30.0 + r["seed"]}

    return fake_train_recipe


def test_each_seed_trains_once_keeps_its_own_row_and_model_and_more_seeds_train_only_the_new(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(runner, "train_recipe", _fake(seen))
    monkeypatch.chdir(tmp_path)
    rows = runner.run_study("heads", "lesson", variants=["rle"], progress=False, save_dir="models", seeds=[0, 1])
    assert [(row["variant"], row["seed"]) for row in rows] == [("rle", 0), ("rle", 1)]
    assert seen == [("rle", 0, "models/heads-rle-lesson.keras", "models/checkpoints/heads-rle-lesson"),
                    ("rle", 1, "models/heads-rle-lesson-seed1.keras", "models/checkpoints/heads-rle-lesson-seed1")]
    assert runner.run_study("heads", "lesson", variants=["rle"], progress=False, seeds=[0, 1]) == []  # both done
    rows = runner.run_study("heads", "lesson", variants=["rle"], progress=False, seeds=[0, 1, 2])
    assert [row["seed"] for row in rows] == [2] and len(seen) == 3
    runner.run_study("heads", "lesson", variants=["rle"], progress=False, seeds=[1], force=True)  # replaces seed 1
    with open(tmp_path / "results" / "heads.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert sorted(row["seed"] for row in written) == ["0", "1", "2"]
    assert seeds.scores(written) == {"rle": [30.0, 31.0, 32.0]}
    assert json.loads(written[0]["overrides"]) == json.loads(rows[0]["overrides"])  # the seed is a column, not an override


def test_without_seeds_a_study_trains_the_recipes_seed_and_existing_rows_count_as_seed_0(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(runner, "train_recipe", _fake(seen))
    out = tmp_path / "heads.csv"
    out.write_text("study,variant,scale,pckh@0.5\nheads,rle,lesson,33.0\n")  # a row written before the seed column
    assert runner.run_study("heads", "lesson", out, variants=["rle", "ipr"], progress=False) != []
    assert [s for _, s, _, _ in seen] == [0] and seen[0][0] == "ipr"
    assert runner.run_study("heads", "lesson", out, variants=["rle"], progress=False, seeds=[0]) == []


@pytest.mark.parametrize("bad, message", [([], "one or more different seeds"), ([1, 1], "one or more different"),
                                          ([-1], "whole number >= 0"), ([0.5], "whole number >= 0")])
def test_bad_seeds_are_refused_before_training(bad, message, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "train_recipe", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=message):
        runner.run_study("heads", "lesson", tmp_path / "x.csv", variants=["rle"], progress=False, seeds=bad)


def test_the_cli_reads_seeds_and_names_a_bad_list():
    from kerasgp.cli.train import _seeds

    assert _seeds("0,1,2") == [0, 1, 2] and _seeds(None) is None
    with pytest.raises(ValueError, match="whole numbers joined by commas"):
        _seeds("0;1")


def test_a_claim_is_judged_against_twice_the_pooled_spread():
    base, better = [30.0, 31.0, 32.0], [34.0, 35.0, 36.0]  # std 1 each: the margin is 2
    assert seeds.pooled_std(base, better) == pytest.approx(1.0)
    assert seeds.verdict(better, base) == HELD and seeds.verdict(base, better) == NOT_HELD
    assert seeds.verdict([32.0, 33.0, 34.0], base) == NOISE  # 2.0 apart: not more than the margin
    assert seeds.verdict(base, better, higher=False) == HELD  # "lower" claims, e.g. a loss
    with pytest.raises(ValueError, match="two runs or more of each"):
        seeds.verdict([35.0], base)


def test_mean_and_spread_are_the_sample_statistics():
    s = seeds.summary([30.0, 31.0, 32.0])
    assert (s["runs"], s["mean"], s["std"]) == (3, 31.0, 1.0)
    assert math.isnan(seeds.summary([30.0])["std"])
    assert seeds.format_mean_std([30.0, 31.0, 32.0]) == "31.0 ± 1.0 (3)" and seeds.format_mean_std([30.04]) == "30.0 (1)"


def test_one_runs_spread_is_pooled_over_the_variants_with_two_runs_or_more():
    # variances 1 (3 runs, 2 dof) and 2 (2 runs, 1 dof): (2 x 1 + 1 x 2) / 3; a single run adds nothing
    assert seeds.pooled_sd([[30.0, 31.0, 32.0], [10.0, 12.0], [50.0]]) == pytest.approx(math.sqrt(4 / 3))
    assert seeds.pooled_sd([[1.0, 3.0], [5.0, 5.0, 5.0]]) == pytest.approx(math.sqrt(2 / 3))
    assert seeds.pooled_sd([[30.0], [31.0]]) is None and seeds.pooled_sd([]) is None
    assert seeds.pooled_std([1.0, 3.0], [5.0, 5.0, 5.0]) == seeds.pooled_sd([[1.0, 3.0], [5.0, 5.0, 5.0]])


def test_the_bound_is_twice_the_gaps_spread_and_a_convention_before_any_is_measured():
    assert seeds.gap_bound(0.5) == 1.0 and seeds.gap_bound(0.5, k=3) == 1.5
    assert seeds.gap_bound(0.5, runs=(3, 3)) == pytest.approx(2 * 0.5 * math.sqrt(2 / 3))
    assert seeds.gap_bound(0.5, runs=(1, 1)) == pytest.approx(math.sqrt(2))  # one run against one: sqrt(2) sd
    assert seeds.gap_bound(None) == 1.0 and seeds.gap_bound(None, runs=(3, 3), convention=0.5) == 0.5
    with pytest.raises(ValueError, match="one run or more"):
        seeds.gap_bound(0.5, runs=(0, 3))


def test_a_gap_holds_is_reversed_or_is_within_noise_only_beyond_its_bound():
    assert seeds.judge(1.2, 1.0) == seeds.HOLDS and seeds.judge(-1.2, 1.0) == seeds.REVERSED
    assert seeds.judge(1.0, 1.0) == NOISE and seeds.judge(-0.3, 1.0) == NOISE  # at the bound: not beyond it
    assert seeds.judge(None, 1.0) == seeds.WAITING
