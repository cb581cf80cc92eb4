"""Output folders are checked before anything is trained: unwritable paths and full disks are named."""

import dataclasses
import shutil
from collections import namedtuple

import pytest
from fakes import fake_pieces

from al_bench.loop import preflight
from al_bench.loop.preflight import OutputDirError
from al_bench.loop.runner import run_experiment


def test_unwritable_folder_is_named_with_its_key(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(
        OutputDirError, match=rf"paths.output_dir={blocker}/out is not writable \(NotADirectoryError"
    ):
        preflight.check_writable(blocker / "out", "paths.output_dir")
    preflight.check_writable(tmp_path / "fresh" / "out", "paths.output_dir")
    assert not (tmp_path / "fresh").exists(), "the check leaves no folders behind"
    (tmp_path / "kept").mkdir()
    preflight.check_writable(tmp_path / "kept", "paths.output_dir")
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir()), "no probe file left"


def test_a_folder_removed_by_a_parallel_jobs_cleanup_is_probed_again(tmp_path, monkeypatch):
    """Two jobs of a sweep check outputs/state at once; the first removes the folder it created just
    after the second created it, so the second's probe finds no folder (seen in a default run)."""
    target = tmp_path / "outputs" / "state"
    real = preflight.tempfile.NamedTemporaryFile
    calls = []

    def other_job_cleans_up_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            shutil.rmtree(tmp_path / "outputs")  # the parallel job's "leave no trace"
        return real(*args, **kwargs)

    monkeypatch.setattr(preflight.tempfile, "NamedTemporaryFile", other_job_cleans_up_first)
    preflight.check_writable(target, "paths.state_dir")
    assert len(calls) == 2 and not (tmp_path / "outputs").exists()


def test_a_folder_removed_right_after_the_probe_does_not_fail_the_check(tmp_path, monkeypatch):
    """The other order of the same race (seen in a default run): the parallel job removes the folder
    between this job's probe and its free-space reading."""
    target = tmp_path / "outputs" / "state"
    real = preflight.tempfile.NamedTemporaryFile

    class RemovedOnClose:
        def __init__(self, *args, **kwargs):
            self.file = real(*args, **kwargs)

        def __enter__(self):
            return self.file.__enter__()

        def __exit__(self, *exc):
            self.file.__exit__(*exc)
            shutil.rmtree(tmp_path / "outputs")  # the parallel job's "leave no trace"

    monkeypatch.setattr(preflight.tempfile, "NamedTemporaryFile", RemovedOnClose)
    preflight.check_writable(target, "paths.state_dir")
    assert not (tmp_path / "outputs").exists()


def test_full_disk_is_reported_before_a_run(tmp_path, monkeypatch):
    stats = namedtuple("stats", "f_bavail f_frsize")
    monkeypatch.setattr(preflight.os, "fstatvfs", lambda fd: stats(256, 4096))  # 1 MiB free
    with pytest.raises(
        OutputDirError, match=r"paths.cache_dir=.* has only 1 MiB free \(paths.min_free_mb=50\)"
    ):
        preflight.check_paths({"cache_dir": str(tmp_path), "min_free_mb": 50})


def test_runner_stops_before_training_when_state_dir_is_unwritable(tmp_path, compose_cfg):
    (tmp_path / "a_file").write_text("")
    cfg = compose_cfg(tmp_path, "strategy=random", f"paths.state_dir={tmp_path}/a_file/state")

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before the output folders were checked")

    pieces = dataclasses.replace(fake_pieces(), build_sources=must_not_train, fit=must_not_train)
    with pytest.raises(OutputDirError, match=r"paths.state_dir=.*a_file/state is not writable"):
        run_experiment(cfg, pieces)
