"""The cluster layout file and options (no Ray needed): replicas or autoscaling per deployment,
the host cap above the session cap, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rejoinder.cluster.settings import ClusterSettings, load_settings
from rejoinder.errors import BadInputError
from test_cli import cli


def test_fixed_replicas_autoscaling_and_the_host_cap(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(
        json.dumps(
            {
                "sessions_per_host": 6,
                "llm": {"autoscaling": {"min_replicas": 1, "max_replicas": 3}, "num_cpus": 2},
            }
        )
    )
    settings = load_settings(path, hosts=3)
    llm = settings.llm.options()
    assert llm["autoscaling_config"]["max_replicas"] == 3 and "num_replicas" not in llm
    assert llm["ray_actor_options"] == {"num_cpus": 2.0}
    assert settings.stt.options()["num_replicas"] == 1
    host = settings.host_options()
    assert host["num_replicas"] == 3 and host["graceful_shutdown_timeout_s"] == 600.0
    # a socket is an ongoing request for its life: the replica must still take the refusals
    assert host["max_ongoing_requests"] > settings.sessions_per_host
    assert load_settings(None) == ClusterSettings()


def test_bad_layouts_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"stt": {"replicas": 0}}))
    with pytest.raises(BadInputError, match=r"stt\.replicas"):
        load_settings(path)
    path.write_text("{")
    with pytest.raises(BadInputError, match="not valid JSON"):
        load_settings(path)
    result = cli("cluster", "--cluster-config", tmp_path / "missing.json")
    assert result.returncode == 2 and result.stderr.startswith("rejoinder: error:"), result.stderr
