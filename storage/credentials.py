"""Credentials: the OS keyring (service `returnline`), environment variables, or a chosen file.

A secret is handed out as `Secret`, whose repr and str are masked, so it cannot slip into a log
line, an exception message, the database or a screenshot by accident; `reveal()` is explicit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVICE = "returnline"

# What each system needs. `credentials set` refuses anything else, so typos fail loudly.
FIELDS: dict[str, tuple[str, ...]] = {
    "shopify": ("access_token", "webhook_secret"),
    "commercetools": ("client_id", "client_secret"),
    "returngo": ("api_key", "webhook_secret"),
    "happy_returns": ("api_key", "webhook_secret"),
    "rebound": ("client_id", "client_secret", "legacy_login", "legacy_api_key",
                "webhook_secret"),
    "netsuite": ("consumer_key", "consumer_secret", "token_id", "token_secret",
                 "client_id", "client_secret"),
    "shipbob": ("token", "webhook_secret"),
}

NO_KEYRING = (
    "No OS keyring is available on this machine; set {env} environment "
    'variables, or choose the file backend with [credentials] backend = "file" in returnline.toml.'
)


def no_keyring_message(system: str | None = None, field: str | None = None) -> str:
    env = env_name(system, field) if system and field else "RETURNLINE_<SYSTEM>_<FIELD>"
    return NO_KEYRING.format(env=env)


class CredentialError(Exception):
    pass


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))


def env_name(system: str, field: str) -> str:
    return f"RETURNLINE_{system.upper()}_{field.upper()}"


def check_field(system: str, field: str) -> None:
    if system not in FIELDS:
        raise CredentialError(f"unknown system {system!r}; known: {', '.join(sorted(FIELDS))}")
    if field not in FIELDS[system]:
        raise CredentialError(
            f"unknown field {field!r} for {system}; known: {', '.join(FIELDS[system])}")


def _keyring_is_usable(kr) -> bool:
    from keyring.backends import fail

    if isinstance(kr, fail.Keyring):
        return False
    try:
        from keyring.backends import chainer
        if isinstance(kr, chainer.ChainerBackend) and not kr.backends:
            return False
    except ImportError:  # pragma: no cover
        pass
    return True


@dataclass
class CredentialStore:
    """backend: keyring (default), env (environment only) or file (keyrings.alt plaintext)."""

    backend: str = "keyring"
    file: Path | None = None

    def _keyring(self):
        import keyring

        if self.backend == "file":
            from keyrings.alt.file import PlaintextKeyring

            kr = PlaintextKeyring()
            if self.file is not None:
                kr.file_path = str(self.file)
                Path(self.file).parent.mkdir(parents=True, exist_ok=True)
            return kr
        kr = keyring.get_keyring()
        return kr if _keyring_is_usable(kr) else None

    def available(self) -> bool:
        return self.backend != "env" and self._keyring() is not None

    def set(self, system: str, field: str, value: str) -> str:
        """Store a secret; returns where it went. Refuses when there is nowhere safe."""
        check_field(system, field)
        if not value:
            raise CredentialError("empty value refused")
        if self.backend == "env":
            raise CredentialError(
                f"the env backend stores nothing: export {env_name(system, field)} instead")
        kr = self._keyring()
        if kr is None:
            raise CredentialError(no_keyring_message(system, field))
        kr.set_password(SERVICE, f"{system}.{field}", value)
        if self.backend == "file" and self.file is not None:
            os.chmod(self.file, 0o600)
        return "file " + str(self.file) if self.backend == "file" else f"keyring ({type(kr).__name__})"

    def get(self, system: str, field: str) -> Secret | None:
        """Environment first (explicit beats stored), then the keyring or file."""
        check_field(system, field)
        value = os.environ.get(env_name(system, field))
        if value:
            return Secret(value)
        if self.backend == "env":
            return None
        kr = self._keyring()
        if kr is None:
            return None
        stored = kr.get_password(SERVICE, f"{system}.{field}")
        return Secret(stored) if stored else None

    def require(self, system: str, field: str) -> Secret:
        secret = self.get(system, field)
        if secret is None:
            hint = "" if self.available() else " " + no_keyring_message()
            raise CredentialError(
                f"no {system} {field} configured: run `returnline credentials set {system} "
                f"{field}` or export {env_name(system, field)}.{hint}")
        return secret


def store_from_config(section: dict) -> CredentialStore:
    file = section.get("file")
    return CredentialStore(backend=section.get("backend", "keyring"),
                           file=Path(file).expanduser() if file else None)
