"""A --config file changes only the fields it names, however deep (the preset keeps the rest)."""

from __future__ import annotations

import json
from pathlib import Path

from rejoinder.cli.common import build_config
from rejoinder.config import preset, with_llm_parallel


def test_a_nested_field_keeps_the_rest_of_its_section(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"router": {"strong": {"threads": 1}}, "llm": {"parallel": 4}}))
    config, default = build_config("cpu", path), preset("cpu")
    assert config.router.strong.threads == 1 and config.llm.parallel == 4
    assert config.router.strong.model == default.router.strong.model  # not reset to the LLM default
    assert config.router.strong.system_prompt == default.router.strong.system_prompt
    assert config.llm.model == default.llm.model and config.router.enabled == default.router.enabled


def test_llm_parallel_applies_to_every_tier() -> None:
    config = with_llm_parallel(preset("cpu"), 3)
    assert [t.llm.parallel for t in config.tier_configs()] == [3, 3]
    assert with_llm_parallel(preset("cpu"), None).llm.parallel == 1
