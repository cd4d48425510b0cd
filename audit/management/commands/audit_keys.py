from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Generate the Ed25519 key pair that signs audit checkpoints: the private key at "
        "AUDIT_SIGNING_KEY_FILE (for the signer worker only) and the public key at "
        "AUDIT_PUBLIC_KEY_FILE. In production, generate the key offline and mount it instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when a key already exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        private_path = settings.AUDIT_SIGNING_KEY_FILE
        public_path = settings.AUDIT_PUBLIC_KEY_FILE
        if private_path.exists():
            if options["if_missing"]:
                return
            raise CommandError(f"{private_path} exists; refusing to replace a signing key.")
        key = Ed25519PrivateKey.generate()
        private_path.parent.mkdir(parents=True, exist_ok=True)
        public_path.parent.mkdir(parents=True, exist_ok=True)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private_path.chmod(0o600)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.stdout.write(f"Wrote audit signing key {private_path} and public key {public_path}.")
