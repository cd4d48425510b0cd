"""The models and checkpoints a batch of results names, read together (``record_results``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from evaluations.models import AIModel, Checkpoint
from rsp_portal.rows import Columns, JoinedRows

# Checkpoints by name with their models, ``{names}`` and ``{slugs}`` the IN lists.
_NAMED_CHECKPOINTS: JoinedRows[Checkpoint, AIModel] = JoinedRows(
    lambda: Columns(Checkpoint, "c"),
    lambda: Columns(AIModel, "m"),
    "model_id",
    lambda q: (
        f"c.{q('name')} IN ({{names}}) AND m.{q('slug')} IN ({{slugs}}) "
        f"ORDER BY c.{q('model_id')}, c.{q('reported_at')}, c.{q('id')}"
    ),
)


def checkpoints_named(names: Collection[str], slugs: Collection[str]) -> list[Checkpoint]:
    """``Checkpoint.objects.filter(name__in=names, model__slug__in=slugs)
    .select_related("model")`` (in the model's ordering) without compiling it per request
    (``rsp_portal.rows``; a test compares them)."""
    if not names or not slugs:
        return []  # the ORM sends no query for an empty IN either
    found = []
    for ckpt, model in _NAMED_CHECKPOINTS.fetch(
        [*names, *slugs], names=len(names), slugs=len(slugs)
    ):
        ckpt.model = model
        found.append(ckpt)
    return found


@dataclass
class Lookup:
    """Models and checkpoints named by a batch of results: one query when every name is
    known, more only to explain an unknown one."""

    models: dict[str, AIModel] = field(default_factory=dict)
    checkpoints: dict[tuple[int, str], Checkpoint] = field(default_factory=dict)
    _owners: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, items: Sequence[object]) -> Lookup:
        # Only strings can name a model or checkpoint; a JSON list or object is refused later,
        # naming its field (and would not even fit in a set).
        mappings = [i for i in items if isinstance(i, Mapping)]
        slugs = {s for i in mappings if isinstance(s := i.get("model"), str)}
        names = {n for i in mappings if isinstance(n := i.get("checkpoint"), str)}
        lookup = cls()
        # The named checkpoints of the named models, with their models, in one query.
        for ckpt in checkpoints_named(names, slugs):
            lookup.checkpoints[(ckpt.model_id, ckpt.name)] = ckpt
            lookup.models.setdefault(ckpt.model.slug, ckpt.model)
        missing = slugs - set(lookup.models)
        if missing:  # a model without any of the named checkpoints, or an unknown one
            lookup.models.update({m.slug: m for m in AIModel.objects.filter(slug__in=missing)})
        return lookup

    def owners(self, name: str) -> list[str]:
        """The slugs of the models that have a checkpoint ``name`` (read when one is missing)."""
        if name not in self._owners:
            self._owners[name] = sorted(
                Checkpoint.objects.filter(name=name).values_list("model__slug", flat=True)
            )
        return self._owners[name]
