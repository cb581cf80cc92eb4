"""A run killed between its creation and its params batch gets the missing params when resumed, once."""

from al_bench.tracking.mlflow_tracker import RUN_KEY_TAG, MlflowTracker


def test_resumed_run_gets_only_the_params_it_lacks(tmp_path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # What a kill right after create_run leaves: the run and its run_key tag, one param at most.
    run_id = tracker.client.create_run(
        tracker.experiment_id(), run_name="r", tags={RUN_KEY_TAG: "k1"}
    ).info.run_id
    tracker.client.log_param(run_id, "paths.output_dir", "/elsewhere")

    params = {"al": {"budget": 5}, "paths": {"output_dir": "/here"}, "strategy": {"name": "random"}}
    assert tracker.start("k1", "r", {}, params) == run_id
    logged = tracker.client.get_run(run_id).data.params
    assert logged == {"al.budget": "5", "paths.output_dir": "/elsewhere", "strategy.name": "random"}
    assert MlflowTracker(tracker.uri).start("k1", "r", {}, params) == run_id  # nothing new, no error
    assert tracker.client.get_run(run_id).data.params == logged
