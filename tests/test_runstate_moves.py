"""Run folders that can be moved and cannot lie (issue 20, defect 7): ``run-state.json`` records the
outputs inside the run folder relative to it with their content hashes, so a copied folder checks its
own files: unchanged outputs stay fresh, a replaced ``scores.parquet`` or a deleted ``model/`` makes
its stage run again, and the original folder is never consulted."""

from __future__ import annotations

import json
import shutil

from publisher.runstate import RunState, file_sha256, stage_key


def _run_folder(root):
    out = root / "run"
    (out / "model").mkdir(parents=True)
    (out / "model" / "model.pt").write_bytes(b"weights")
    (out / "scores.parquet").write_bytes(b"scores of the model")
    state = RunState(out / "run-state.json")
    state.record("train", stage_key("train", "targets"), 1.0, [out / "model" / "model.pt"])
    state.record("score", stage_key("score", "weights"), 1.0, [out / "scores.parquet"])
    return out


def test_run_state_paths_are_relative_to_the_run_folder(tmp_path):
    out = _run_folder(tmp_path)
    text = (out / "run-state.json").read_text()
    assert str(tmp_path) not in text
    assert set(json.loads(text)["score"]["outputs"]) == {"scores.parquet"}


def test_a_copied_run_folder_checks_its_own_files(tmp_path):
    out = _run_folder(tmp_path)
    copy = tmp_path / "moved" / "run"
    shutil.copytree(out, copy)
    state = RunState(copy / "run-state.json")
    assert state.fresh("train", stage_key("train", "targets")) and state.fresh("score", stage_key("score", "weights"))

    (copy / "scores.parquet").write_bytes(b"scores from somewhere else")  # replaced: re-scored, not published
    assert not state.fresh("score", stage_key("score", "weights"))
    assert RunState(out / "run-state.json").fresh("score", stage_key("score", "weights"))  # the original is intact

    shutil.rmtree(copy / "model")  # deleted: re-trained
    assert not state.fresh("train", stage_key("train", "targets"))


def test_outputs_outside_the_run_folder_stay_absolute(tmp_path):
    out = _run_folder(tmp_path)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    state = RunState(out / "run-state.json")
    state.record("publish", "k", 0.1, [outside])
    assert json.loads((out / "run-state.json").read_text())["publish"]["outputs"] == {str(outside.resolve()): file_sha256(outside)}
    assert state.fresh("publish", "k")

