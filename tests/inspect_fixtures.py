"""Generate real Inspect AI logs offline, for tests that import evidence.

The logs come from ``inspect_ai.eval`` itself, run against the built-in
``mockllm/model`` provider with scripted answers, so they have exactly the
shape a pipeline would upload, without network access or API keys.

Recipe: ``get_model("mockllm/model", custom_outputs=<callable>)`` where the
callable receives the chat input and returns a ``ModelOutput`` built with
``ModelOutput.from_content(...)`` and a ``ModelUsage``. A callable (rather than
a list) is used because samples run concurrently: each answer is chosen from
the ``[q<i>]`` marker in the sample's prompt, so sample ``i`` always gets
``outputs[i]`` whatever the scheduling order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

# Set before inspect_ai is imported: no live display, quiet logging.
os.environ.setdefault("INSPECT_DISPLAY", "none")
os.environ.setdefault("INSPECT_LOG_LEVEL", "warning")

from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.scorer import Scorer, includes, match
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver
from inspect_ai.tool import ToolChoice, ToolInfo

#: Answers the default samples expect; ``outputs`` equal to these score 100%.
DEFAULT_TARGETS: tuple[str, ...] = ("4", "6", "8")
#: Token usage reported for every scripted model answer.
USAGE_PER_OUTPUT = ModelUsage(input_tokens=10, output_tokens=2, total_tokens=12)
#: Message of the exception raised by the failing solver (``fail=True``).
FAIL_MESSAGE = "solver exploded on purpose"
MOCK_MODEL = "mockllm/model"

_MARKER = re.compile(r"\[q(\d+)\]")


@solver
def _exploding_solver() -> Solver:
    """A solver that always raises, to produce a log with ``status == "error"``."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        raise RuntimeError(FAIL_MESSAGE)

    return solve


def _scripted(outputs: Sequence[str]) -> Any:
    """A mockllm ``custom_outputs`` callable answering sample ``i`` with ``outputs[i]``."""

    def respond(
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        found = _MARKER.search(messages[-1].text)
        if found is None:
            raise AssertionError(f"unexpected prompt: {messages[-1].text!r}")
        output = ModelOutput.from_content(model=MOCK_MODEL, content=outputs[int(found.group(1))])
        output.usage = USAGE_PER_OUTPUT.model_copy()
        return output

    return respond


def make_inspect_log(
    tmp_path: Path,
    fmt: Literal["eval", "json"],
    outputs: Sequence[str],
    fail: bool = False,
    *,
    targets: Sequence[str] | None = None,
    scorer: Scorer | list[Scorer] | None = None,
    task_name: str = "tiny_arithmetic",
    **eval_kwargs: Any,
) -> Path:
    """Run a tiny Inspect task on mockllm and return the path of its log.

    One sample per entry of ``outputs``; sample ``i`` has target
    ``targets[i]`` (default :data:`DEFAULT_TARGETS`) and the model answers
    ``outputs[i]``. ``scorer`` defaults to ``match()``. With ``fail=True`` the
    solver raises ``RuntimeError(FAIL_MESSAGE)`` and the log ends with
    ``status == "error"``. Extra keyword arguments go to ``inspect_ai.eval``
    (e.g. ``limit=2``, ``tags=[...]``, ``metadata={...}``).
    The log is written under ``tmp_path`` in format ``fmt``.
    """
    targets = list(targets if targets is not None else DEFAULT_TARGETS)
    if len(targets) < len(outputs):
        raise ValueError("need a target for every output")
    dataset = MemoryDataset(
        [
            Sample(input=f"[q{i}] What is {i} + {i}?", target=targets[i], id=i + 1)
            for i in range(len(outputs))
        ]
    )
    task = Task(
        dataset=dataset,
        solver=_exploding_solver() if fail else generate(),
        scorer=scorer if scorer is not None else match(),
        name=task_name,
    )
    model = get_model(MOCK_MODEL, custom_outputs=_scripted(outputs))
    logs = eval(
        task,
        model=model,
        log_dir=str(tmp_path),
        log_format=fmt,
        display="none",
        fail_on_error=True,
        **eval_kwargs,
    )
    return Path(logs[0].location)


__all__ = [
    "DEFAULT_TARGETS",
    "FAIL_MESSAGE",
    "MOCK_MODEL",
    "USAGE_PER_OUTPUT",
    "includes",
    "make_inspect_log",
    "match",
]
