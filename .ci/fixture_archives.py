"""Stand-in download archives, in the real layouts, built from the real data a machine has (LSPET's 8,000-person
copy, coco-mini, coco-sample, mpii-sample), to try `data fetch` end to end where the real hosts cannot be reached:

    python .ci/fixture_archives.py OUT
    ../shared/tools/fresh-machine.sh OUT                       # README's first command, LSPET served from OUT
    KERASGP_MANIFEST=OUT/manifest.json KERASGP_MIRROR=http://127.0.0.1:PORT python -m kerasgp data fetch coco2017

OUT receives, under the real file names:
- lspet_dataset.zip: joints.mat 14x3x10000 + images/; people 0-7,999 real, 8,000-9,999 copies of 0-1,999.
- lsp_dataset_original.zip: LSP's layout (joints.mat 3x14x2000, third row the *occluded* flag, images/im0001.jpg...)
  from real LSPET people whose torso and head segment are visible.
- annotations_trainval2017.zip, val2017.zip and the train images by name: coco-mini's annotations as train2017,
  coco-sample's as val2017 (the fixture of tests/test_coco2017.py).
- mpii_annotations.tar, mpii_human_pose_v1.tar.gz: mmpose's layout from the MPII sample (tests/test_mpii.py).
- manifest.json: the project's manifest with the stand-ins' sizes and sha256 for COCO and their people counts for
  MPII, since the real ones (rightly) refuse them.
The builders are the tests' own, so the stand-ins are what the tests check.
"""
import copy
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_lsp_protocol import lsp_rows, make_lsp_folder, make_lspet_10000  # noqa: E402
from test_mpii import build_fixture  # noqa: E402

from kerasgp.data import sources  # noqa: E402
from kerasgp.data.download import sha256_of  # noqa: E402


def _zip_folder(folder: Path, archive: Path):
    """Every file under folder, links followed, at its path relative to folder; stored, since JPEGs do not shrink."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())


def _coco(out: Path):
    mini, sample = sources.locate("coco-mini"), sources.locate("coco-sample")
    train = json.loads((mini / "annotations/person_keypoints_train2017.json").read_text())
    val = json.loads((sample / "test_coco.json").read_text())
    for data, split in ((train, "train2017"), (val, "val2017")):
        for image in data["images"]:  # the real files carry coco_url; the sample copies may not
            image.setdefault("coco_url", f"http://images.cocodataset.org/{split}/{image['file_name']}")
    with zipfile.ZipFile(out / "annotations_trainval2017.zip", "w") as z:
        z.writestr("annotations/person_keypoints_train2017.json", json.dumps(train))
        z.writestr("annotations/person_keypoints_val2017.json", json.dumps(val))
    with zipfile.ZipFile(out / "val2017.zip", "w") as z:
        for image in val["images"]:
            z.write(sample / image["file_name"], f"val2017/{image['file_name']}")
    for image in train["images"]:
        shutil.copy(mini / "train2017" / image["file_name"], out / image["file_name"])


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    lspet = sources.locate("lspet")
    with tempfile.TemporaryDirectory() as tmp:
        make_lspet_10000(f"{tmp}/lspet", str(lspet))
        _zip_folder(Path(tmp, "lspet"), out / "lspet_dataset.zip")
        make_lsp_folder(f"{tmp}/lsp", str(lspet), lsp_rows(str(lspet)), 2000)
        _zip_folder(Path(tmp, "lsp"), out / "lsp_dataset_original.zip")
    _coco(out)
    train, val = build_fixture(sources.locate("mpii-sample"), out)

    manifest = copy.deepcopy(json.loads(sources.manifest_path().read_text()))
    for source in manifest["coco2017"]["sources"]:
        local = out / source["url"].rsplit("/", 1)[-1]
        source.update(size=local.stat().st_size, sha256=sha256_of(local))
    manifest["mpii"]["expect_people"] = {"train": len(train), "val": len(val)}
    manifest["_doc"] = f"Stand-in manifest written by .ci/fixture_archives.py for the archives in {out}. " + manifest["_doc"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for path in sorted(out.iterdir()):
        if path.suffix != ".jpg":
            print(f"{path.stat().st_size:>12,}  {path.name}")
    print(f"plus {len(list(out.glob('*.jpg')))} COCO train images, in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]).resolve())
