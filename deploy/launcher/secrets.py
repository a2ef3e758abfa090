"""Secrets and the var dir: the internal secret and the JWT key pair, generated once, kept."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_VAR = "LEAGUE_INTERNAL_SECRET"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class VarLayout:
    """What lives in the var dir (`LEAGUE_VAR_DIR`, default `<repo>/.run`)."""

    root: Path

    @classmethod
    def from_env(cls, repo_root: Path, env: Mapping[str, str]) -> VarLayout:
        raw = env.get("LEAGUE_VAR_DIR", "").strip()
        path = Path(raw).expanduser() if raw else Path(".run")
        return cls((path if path.is_absolute() else repo_root / path).resolve())

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    @property
    def children_dir(self) -> Path:
        """One file per running child, named by its process group: what `down` can still stop
        when the launcher itself was killed."""
        return self.root / "children"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def jwt_private_key(self) -> Path:
        return self.keys_dir / "jwt_ed25519.pem"

    @property
    def jwt_public_key(self) -> Path:
        return self.keys_dir / "jwt_ed25519.pub.pem"

    @property
    def documents_dir(self) -> Path:
        return self.root / "documents"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def launcher_log(self) -> Path:
        return self.logs_dir / "launcher.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "launcher.pid"


@dataclass(frozen=True)
class Secrets:
    internal_secret: str
    jwt_private_key: Path
    jwt_public_key: Path


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines (comments and blanks skipped); empty when the file does not exist."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def _ensure_jwt_keys(layout: VarLayout) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    layout.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(layout.keys_dir, 0o700)
    private_path, public_path = layout.jwt_private_key, layout.jwt_public_key
    if private_path.exists():
        os.chmod(private_path, 0o600)
        if public_path.exists():
            return
        loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 private key")
        key = loaded
    else:
        key = Ed25519PrivateKey.generate()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(private_path, private_pem, 0o600)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_atomically(public_path, public_pem, 0o644)


def ensure_secrets(layout: VarLayout) -> Secrets:
    """Create the internal secret and the JWT key pair unless they exist; return them."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with _file_lock(layout.root / ".secrets.lock"):
        secret = read_env_file(layout.secrets_file).get(SECRET_VAR, "")
        if secret:
            os.chmod(layout.secrets_file, 0o600)
        else:
            secret = secrets.token_urlsafe(48)
            previous = (
                layout.secrets_file.read_text(encoding="utf-8")
                if layout.secrets_file.exists()
                else "# Generated once by deploy/launcher.py; keep it, never commit it.\n"
            )
            if previous and not previous.endswith("\n"):
                previous += "\n"
            _write_atomically(
                layout.secrets_file, f"{previous}{SECRET_VAR}={secret}\n".encode(), 0o600
            )
        _ensure_jwt_keys(layout)
    return Secrets(secret, layout.jwt_private_key, layout.jwt_public_key)
