"""Shared fixtures for the evidence tests: an active policy, a model with checkpoints."""

from __future__ import annotations

from typing import Any

import pytest

from evaluations import services
from evaluations.models import AIModel, Checkpoint
from policies.packs import load_pack_file

# Two metrics of the default pack and their ranges (see policies/packs/default.yaml).
VCT = "cbrn.vct_accuracy"  # [0, 1], higher is more capable
UPLIFT = "cbrn.uplift_ratio"  # [0, 20]


@pytest.fixture
def policy(db: None) -> Any:
    from policies.services import load_pack

    return load_pack(load_pack_file("default"), activate=True)


@pytest.fixture
def ai_model(policy: Any, safety: Any) -> AIModel:
    return services.create_model(slug="atlas", name="Atlas", family="atlas", actor=safety)


@pytest.fixture
def ckpt(ai_model: AIModel, safety: Any) -> Checkpoint:
    return services.report_checkpoint(
        ai_model, name="step-1000", effective_compute=1e24, step=1000, actor=safety
    )


@pytest.fixture
def other_ckpt(policy: Any, safety: Any) -> Checkpoint:
    other = services.create_model(slug="borealis", name="Borealis", actor=safety)
    return services.report_checkpoint(other, name="b-only", effective_compute=2e24, actor=safety)


def result(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "model": "atlas",
        "checkpoint": "step-1000",
        "metric": VCT,
        "value": 0.12,
        "stderr": 0.01,
        "n_samples": 300,
        "elicitation": {"scaffold": "react", "attempts": 3, "safety_training_removed": True},
    }
    item.update(overrides)
    return item


# Test modules take the fixtures with `from tests.evidence_fixtures import *`.
__all__ = ["ai_model", "ckpt", "other_ckpt", "policy"]
