"""al-bench-data: generate, inspect (counts + contact sheet), clean errors."""

import json
import re
import subprocess
import sys
from collections import Counter

import pytest
from PIL import Image

from al_bench.cli.data import main


def test_synthetic_then_inspect(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["synthetic", "--out", str(out), "--n-pool", "12", "--n-val", "4", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"wrote 12 pool \+ 4 val images to .*syn in \d+\.\d s", printed)
    assert len(list((out / "images").glob("*.png"))) == 16

    sheet = tmp_path / "sheet.png"
    assert main(["inspect", str(out), "--sheet", str(sheet), "--n-sheet", "6"]) == 0
    printed = capsys.readouterr().out
    pool = json.loads((out / "person_keypoints_pool.json").read_text())
    anns = pool["annotations"]
    assert f"12 images, {len(anns)} annotations" in printed
    persons = [a for a in anns if not a["iscrowd"] and a["num_keypoints"] > 0]
    families = Counter(a["pose_family"] for a in persons)
    assert re.search(rf"standing\s+{families['standing']}\s", printed)
    facings = Counter(a["facing"] for a in persons)
    assert re.search(rf"front\s+{facings['front']}\s", printed)
    v = Counter(k for a in persons for k in a["keypoints"][2::3])
    assert re.search(rf"  2\s+{v[2]}\s", printed) and re.search(rf"  1\s+{v[1]}\s", printed)
    assert f"hidden (v = 1): {100 * v[1] / (v[1] + v[2]):.1f} %" in printed
    free = sum(
        not any(a["image_id"] == img["id"] and not a["iscrowd"] for a in anns) for img in pool["images"]
    )
    assert f"person-free images: {free} (" in printed
    medium = sum(32**2 <= a["area"] < 96**2 for a in persons)
    assert re.search(rf"medium\s+{medium}\s", printed)
    assert "crowd regions (iscrowd 1):" in printed and "scene types" in printed
    bursts = Counter(img["attributes"]["burst"] for img in pool["images"])  # the default: 60 % in bursts
    assert bursts[None] == 5 and sorted(bursts[b] for b in bursts if b is not None) == [2, 2, 3]
    assert "burst frames (near-duplicates): 7 (58.3 %) in 3 bursts of 2-3 frames" in printed
    assert f"contact sheet: {sheet}" in printed
    assert Image.open(sheet).size == (6 * 192, 192 + 12)

    assert main(["inspect", str(out), "--split", "val"]) == 0
    printed = capsys.readouterr().out
    assert "4 images" in printed and (out / "sheet_val.png").exists()
    assert "burst frames (near-duplicates): 0 (0.0 %)" in printed


def test_synthetic_families_option_brings_back_rotated_people(tmp_path):
    out = tmp_path / "syn"
    assert main(["synthetic", "--out", str(out), "--n-pool", "60", "--n-val", "1", "--families", "all"]) == 0
    anns = json.loads((out / "person_keypoints_pool.json").read_text())["annotations"]
    families = Counter(a["pose_family"] for a in anns if not a["iscrowd"] and a["num_keypoints"] > 0)
    assert families["lying"] + families["upside_down"] > 0


def test_errors_exit_with_a_message(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["inspect", str(tmp_path / "missing")])
    assert str(err.value).startswith("al-bench-data: error: annotation file not found")
    with pytest.raises(SystemExit, match="n_pool and n_val must be >= 1"):
        main(["synthetic", "--out", str(tmp_path / "x"), "--n-pool", "0", "--n-val", "1"])


def test_console_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "al_bench.cli.data", "inspect", str(tmp_path / "nope")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "al-bench-data: error:" in proc.stderr and "Traceback" not in proc.stderr
