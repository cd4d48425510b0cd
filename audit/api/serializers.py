from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audit.models import AuditEntry


class ObjectRefSerializer(serializers.Serializer[dict[str, str]]):
    type = serializers.CharField()
    id = serializers.CharField()


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    """An entry as its hashed body states it; ``leaf_hash`` and ``prev`` chain it to the next."""

    ts = serializers.CharField(help_text="RFC 3339 UTC, exactly as hashed")
    actor = serializers.DictField(help_text="user (id, username, roles, via) or system process")
    object = ObjectRefSerializer()
    data = serializers.DictField()  # type: ignore[assignment]  # the field, not .data

    class Meta:
        model = AuditEntry
        fields = ["seq", "ts", "actor", "action", "object", "data", "leaf_hash", "prev"]

    def to_representation(self, instance: AuditEntry) -> dict[str, Any]:
        body = instance.parsed
        return {
            "seq": instance.seq,
            "ts": body["ts"],
            "actor": body["actor"],
            "action": body["action"],
            "object": {"type": body["object"]["type"], "id": body["object"]["id"]},
            "data": body["data"],
            "leaf_hash": instance.leaf_hash,
            "prev": instance.prev,
        }


class VerificationSerializer(serializers.Serializer[dict[str, Any]]):
    ok = serializers.BooleanField()
    entries = serializers.IntegerField()
    checkpoints = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    checked_at = serializers.DateTimeField()


class PublicKeySerializer(serializers.Serializer[dict[str, str]]):
    origin = serializers.CharField()
    key_id = serializers.CharField(help_text="signed-note key ID (4 bytes, hex)")
    verifier_key = serializers.CharField(help_text="note verifier key: origin+keyid+base64 key")
    public_key_pem = serializers.CharField()
