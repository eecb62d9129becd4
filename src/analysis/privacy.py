"""Stable salted pseudonyms for agent and customer identifiers.

A pseudonym is ``prefix`` + the first 10 hex digits of HMAC-SHA256(salt, value):
the same value and salt always give the same pseudonym (so periods, files and runs
line up), and without the salt a pseudonym cannot be traced back by hashing guessed
ids. The salt is a secret: it comes from the ``CCPM_SALT`` environment variable, from
a salt file, or is generated once and stored (mode 0600) in the user's config folder
(``$XDG_CONFIG_HOME/ccpm/salt``, overridable with ``CCPM_SALT_FILE``), never in the
repository or in a report.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .errors import ConfigError

__all__ = [
    "pseudonym",
    "pseudonymize",
    "resolve_salt",
    "default_salt_file",
    "ID_PREFIXES",
]

#: Prefix of the pseudonym for each known id column (others get ``"X-"``).
ID_PREFIXES = {
    "agent_id": "A-",
    "ratee_id": "A-",
    "rater_id": "R-",
    "supervisor_id": "S-",
    "customer_id": "C-",
}

_DIGITS = 10


def default_salt_file() -> Path:
    """Where a generated salt is kept: ``CCPM_SALT_FILE`` or ``$XDG_CONFIG_HOME/ccpm/salt``."""
    env = os.environ.get("CCPM_SALT_FILE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ccpm" / "salt"


def resolve_salt(salt_file: str | os.PathLike | None = None, *, create: bool = True) -> bytes:
    """The salt to use, in this order: ``CCPM_SALT``, ``salt_file``, the default file.

    When none exists and ``create`` is true, 32 random bytes are generated and written
    (hex, mode 0600) to ``salt_file`` or the default file, so later runs reuse them.

    Raises
    ------
    ConfigError
        ``salt_file`` is given but missing (with ``create=False``) or empty.
    """
    env = os.environ.get("CCPM_SALT")
    if env:
        return env.encode("utf-8")
    path = Path(salt_file).expanduser() if salt_file else default_salt_file()
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ConfigError(f"salt file {path} is empty")
        return text.encode("utf-8")
    if not create:
        raise ConfigError(f"salt file {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(salt + "\n")
    try:  # keep a salt another process wrote first: everyone must use the same one
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _as_bytes(salt: bytes | str) -> bytes:
    if isinstance(salt, str):
        salt = salt.encode("utf-8")
    if not salt:
        raise ConfigError("the pseudonymization salt is empty")
    return salt


def pseudonym(value: object, salt: bytes | str, prefix: str = "X-") -> str:
    """The pseudonym of one identifier (``prefix`` + 10 hex digits of HMAC-SHA256)."""
    digest = hmac.new(_as_bytes(salt), str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:_DIGITS]


def pseudonymize(
    df: pd.DataFrame, columns: Iterable[str], salt: bytes | str, *, prefixes: dict | None = None
) -> pd.DataFrame:
    """Replace identifiers in ``columns`` by stable salted pseudonyms.

    Parameters
    ----------
    df : DataFrame
        Any table; it is not modified.
    columns : iterable of str
        Id columns to replace; names absent from ``df`` are ignored. Missing values stay
        missing.
    salt : bytes or str
        The secret (see :func:`resolve_salt`).
    prefixes : dict, optional
        Pseudonym prefix per column (default :data:`ID_PREFIXES`, else ``"X-"``).
        Columns holding the same kind of id (``agent_id`` and ``ratee_id``) share a
        prefix, so the same agent gets the same pseudonym in every table.

    Returns
    -------
    DataFrame
        A copy of ``df`` with the same columns, index and row order; the id columns
        are strings ``<prefix><10 hex digits>``.

    References
    ----------
    Krawczyk, Bellare & Canetti (1997), RFC 2104, HMAC: Keyed-Hashing for Message
    Authentication.
    """
    key = _as_bytes(salt)
    prefixes = {**ID_PREFIXES, **(prefixes or {})}
    out = df.copy()
    for col in columns:
        if col not in out.columns:
            continue
        values = out[col]
        uniques = pd.unique(values.dropna())
        mapping = {u: pseudonym(u, key, prefixes.get(col, "X-")) for u in uniques}
        out[col] = values.map(mapping).astype("str").where(values.notna(), None)
    return out
