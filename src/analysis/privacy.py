"""Stable salted pseudonyms for agent and customer identifiers.

A pseudonym is ``prefix`` + the first 16 hex digits (64 bits) of HMAC-SHA256(salt, id),
the id normalised first as the loader does (:func:`normalize_id`: NFKC, zero-width
characters removed, surrounding white space stripped):
the same value and salt always give the same pseudonym (so periods, files and runs
line up), and without the salt a pseudonym cannot be traced back by hashing guessed
ids. The salt is a secret: it comes from the ``CCPM_SALT`` environment variable, from
a salt file, or is generated once and stored (mode 0600) in the user's config folder
(``$XDG_CONFIG_HOME/ccpm/salt``, overridable with ``CCPM_SALT_FILE``), never in the
repository or in a report.

Every command that writes outputs takes ``--pseudonymize`` (and ``--salt-file``): it
pseudonymizes at *write time* with one :class:`Pseudonymizer`, so the numbers are those
of the raw run and only the ids differ. The pseudonymizer replaces the id columns of
every table it writes (:data:`ID_PREFIXES`), the ids inside JSON-like objects, and any
id it has seen when it appears as a word inside free text (``detail`` sentences, notes,
``summary.txt``). Every person id (agent, ratee, rater, supervisor) shares the prefix
``A-``: the same person gets the same pseudonym in every column, file and command run
with the same salt, so outputs can still be joined, self-ratings (rater = ratee) and
mutual peer ratings are still recognised. See ``docs/privacy.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ._paths import glob_files, is_pattern
from .errors import ConfigError
from .load._ids import normalize_id as _load_normalize_id

__all__ = [
    "normalize_id",
    "header_key",
    "salt_bits",
    "check_salt",
    "input_salt_ids",
    "file_pseudonym",
    "MIN_SALT_BITS",
    "pseudonym",
    "pseudonymize",
    "resolve_salt",
    "default_salt_file",
    "looks_pseudonymized",
    "Pseudonymizer",
    "ID_PREFIXES",
    "PERSON_PREFIX",
    "CUSTOMER_PREFIX",
]

PERSON_PREFIX = "A-"
CUSTOMER_PREFIX = "C-"
#: Prefix of the pseudonym for each known id column (others get ``"X-"``). Every column
#: that can hold a person shares :data:`PERSON_PREFIX`, so a person has one pseudonym
#: whichever column holds them (an agent rating a peer, a supervisor in the roster and
#: among the raters). A column that holds an id only in some tables (``scope``: an agent
#: id or ``center`` in the change points, ``all`` or a period in ``gaming_agents.csv``)
#: is not listed: its cells are replaced when they are a known id, like any text cell.
ID_PREFIXES = {
    "agent_id": PERSON_PREFIX,
    "ratee_id": PERSON_PREFIX,
    "rater_id": PERSON_PREFIX,
    "supervisor_id": PERSON_PREFIX,
    "customer_id": CUSTOMER_PREFIX,
}

#: Hex digits of a pseudonym: 16 = 64 bits. Among n distinct ids the expected number of
#: pairs sharing a pseudonym is about n(n-1)/2 / 2**64: 2.7e-6 for 10 million customers
#: (with 10 digits = 40 bits it was 45 pairs).
_DIGITS = 16
#: Least estimated entropy of a salt given by an operator (CCPM_SALT or a salt file).
MIN_SALT_BITS = 128
#: Prefix of a pseudonymized input file name (its extension is kept).
FILE_PREFIX = "F-"
#: The Parquet metadata key under which ``validate --pseudonymize`` records the
#: pseudonymization (``salt_id`` included), so later commands recognise its output.
PRIVACY_META_KEY = b"ccpm.privacy"

def normalize_id(value: object) -> str:
    """An id as compared and hashed: the loader's :func:`analysis.load.normalize_id`
    (NFKC, zero-width characters removed, stripped), as text (``""`` when nothing is left).

    ``" A1"``, ``"A1 "``, ``"A\u200b1"`` and the full-width ``"Ａ1"`` are all ``"A1"``,
    so a quarantined row's untrimmed id gets the same pseudonym as the valid rows' id:
    one function for both, so the loader and the pseudonymizer always agree.
    """
    return _load_normalize_id(str(value)) or ""


def header_key(name: object) -> str:
    """A column header as the loader matches it (NFKC, case, white space; ``_``, ``-``
    and spaces alike), e.g. ``"Agent_ID"``, ``"agent id "`` -> ``"agent_id"``."""
    return re.sub(r"[\s_\-]+", "_", normalize_id(name).lower())


def _id_prefix(col: object, prefixes: Mapping[str, str]) -> str | None:
    """The pseudonym prefix of column ``col`` when its header names an id column."""
    if col in prefixes:
        return prefixes[col]
    key = header_key(col)
    for name, prefix in prefixes.items():
        if key == header_key(name) or key.replace("_", "") == header_key(name).replace("_", ""):
            return prefix
    return None


def salt_bits(salt: bytes | str) -> float:
    """A rough upper estimate of a salt's entropy in bits.

    ``length x log2(alphabet)``, the alphabet being the character classes the salt uses
    (10 digits, 16 hex digits, 26 lower-case, 26 upper-case letters, 33 ASCII punctuation
    and space; any other byte, a control character included, counts 8 bits), and 0 when it uses fewer than 8 distinct
    characters. It catches mistakes (``1``, a word, ``aaaa...``), not a weak secret that
    looks random.
    """
    if isinstance(salt, bytes):
        try:
            salt = salt.decode("ascii")
        except UnicodeDecodeError:  # binary or non-ASCII: count bytes
            return 8.0 * len(salt) if len(set(salt)) >= 8 else 0.0
    if len(set(salt)) < 8:
        return 0.0
    if not salt.isascii() or not salt.isprintable():  # binary that happened to decode
        return 8.0 * len(salt.encode("utf-8"))
    chars = set(salt)
    if chars <= set(string.digits):
        alphabet = 10
    elif chars <= set("0123456789abcdef") or chars <= set("0123456789ABCDEF"):
        alphabet = 16
    else:
        alphabet = (26 * bool(chars & set(string.ascii_lowercase))
                    + 26 * bool(chars & set(string.ascii_uppercase))
                    + 10 * bool(chars & set(string.digits))
                    + 33 * bool(chars - set(string.ascii_letters + string.digits)))
    return len(salt) * math.log2(alphabet)


def check_salt(salt: bytes, source: str) -> bytes:
    """``salt`` when it is strong enough (:func:`salt_bits` >= :data:`MIN_SALT_BITS`).

    Raises
    ------
    ConfigError
        One line naming ``source`` and how to make a good salt.
    """
    bits = salt_bits(salt)
    if bits < MIN_SALT_BITS:
        raise ConfigError(
            f"the salt in {source} is too weak (about {bits:.0f} bits, at least "
            f"{MIN_SALT_BITS} needed): use e.g. 32 random bytes in hex, "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'")
    return salt


def default_salt_file() -> Path:
    """Where a generated salt is kept: ``CCPM_SALT_FILE`` or ``$XDG_CONFIG_HOME/ccpm/salt``."""
    env = os.environ.get("CCPM_SALT_FILE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ccpm" / "salt"


def resolve_salt(salt_file: str | os.PathLike | None = None, *, create: bool = True,
                 new: bool = False) -> bytes:
    """The salt to use, in this order: ``CCPM_SALT``, ``salt_file``, the default file.

    When the default file (:func:`default_salt_file`) does not exist and ``create`` is
    true, 32 random bytes are generated and written (hex, mode 0600) there, so later runs
    reuse them. A ``salt_file`` given by name that does not exist is an error (a typo
    would otherwise give pseudonyms that join nothing written before) unless ``new`` is
    true (``--new-salt``): then the salt is generated there.

    A salt given by the operator (``CCPM_SALT`` or a file) must carry at least
    :data:`MIN_SALT_BITS` bits (:func:`check_salt`): ``CCPM_SALT=1`` is refused.

    Raises
    ------
    ConfigError
        ``salt_file`` is given but missing (without ``new``), a folder, empty,
        unreadable or too weak; ``CCPM_SALT`` too weak.
    """
    env = os.environ.get("CCPM_SALT")
    if env:
        return check_salt(env.encode("utf-8"), "CCPM_SALT")
    path = Path(salt_file).expanduser() if salt_file else default_salt_file()
    if path.exists() and not path.is_file():
        raise ConfigError(f"salt file {path} is a folder, not a file: give the salt file "
                          "itself")
    if path.is_file():
        try:
            data = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"salt file {path}: cannot read ({exc.strerror})") from None
        if not data:
            raise ConfigError(f"salt file {path} is empty")
        return check_salt(data, f"salt file {path}")
    if not create:
        raise ConfigError(f"salt file {path} does not exist")
    if salt_file and not new:
        raise ConfigError(
            f"salt file {path} does not exist: check the path (a new salt gives pseudonyms "
            "that join nothing written before), or add --new-salt to generate one there")
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
    """The pseudonym of one identifier: ``prefix`` + 16 hex digits of
    HMAC-SHA256(salt, :func:`normalize_id` (value))."""
    raw = normalize_id(value).encode("utf-8")
    digest = hmac.new(_as_bytes(salt), raw, hashlib.sha256).hexdigest()
    return prefix + digest[:_DIGITS]


#: File extensions kept on a file-name pseudonym (any other suffix could be a name:
#: ``Dana.Cohen.csv`` keeps ``.csv`` only).
_EXTENSIONS = ("csv", "tsv", "txt", "dat", "gz", "bz2", "xz", "zip", "parquet", "pq", "xlsx",
               "xls", "json", "jsonl", "yml", "yaml")
_EXT = "|".join(_EXTENSIONS)
_EXT_RE = re.compile(rf"(?:\.(?i:{_EXT})){{1,2}}$")


def file_pseudonym(name: str, salt: bytes | str) -> str:
    """The pseudonym of an input file name: ``F-`` + 16 hex digits + its extension.

    ``alice.csv`` -> ``F-3f…e1.csv``; a data file extension (one or two such as
    ``.csv.gz``, from a fixed list) is kept for diagnosis, any other suffix is not.
    """
    name = normalize_id(Path(str(name)).name)
    m = _EXT_RE.search(name)
    ext = m.group(0) if m and m.start() > 0 else ""
    return pseudonym(name, salt, FILE_PREFIX) + ext


def _expand_inputs(path) -> list[Path]:

    p = Path(str(path)).expanduser()
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file())
    if p.is_file():
        return [p]
    if is_pattern(p):
        return glob_files(p)
    return []


def input_salt_ids(*paths) -> set[str]:
    """The ``salt_id`` of every pseudonymized ccpm Parquet file among ``paths``.

    A file written by ``ccpm validate --pseudonymize`` carries :data:`PRIVACY_META_KEY`
    in its Parquet metadata; other files (raw exports, CSV) give nothing.
    """
    import pyarrow.parquet as pq

    out: set[str] = set()
    for path in paths:
        if path in (None, ""):
            continue
        for f in _expand_inputs(path):
            if f.suffix.lower() != ".parquet":
                continue
            try:
                meta = pq.read_schema(f).metadata or {}
            except (OSError, ValueError):
                continue  # unreadable: the loader says why
            rec = meta.get(PRIVACY_META_KEY)
            if rec is None:
                continue
            try:
                sid = json.loads(rec.decode("utf-8")).get("salt_id")
            except (ValueError, AttributeError):
                sid = None
            out.add(str(sid))
    return out


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
        are strings ``<prefix><16 hex digits>``.

    References
    ----------
    Krawczyk, Bellare & Canetti (1997), RFC 2104, HMAC: Keyed-Hashing for Message
    Authentication.
    """
    pz = Pseudonymizer(salt, keep=())
    prefixes = {**ID_PREFIXES, **(prefixes or {})}
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = pz.ids(out[col], prefixes.get(col, "X-"))
    return out


_PSEUDONYM_RE = re.compile(rf"[A-Z]-[0-9a-f]{{{_DIGITS}}}")
_FILE_PSEUDONYM_RE = re.compile(rf"{FILE_PREFIX}[0-9a-f]{{{_DIGITS}}}(?:\.(?i:{_EXT})){{0,2}}")
#: A word that may be an id: ASCII letters, digits and ``_ @ . -`` (a CJK neighbour, a
#: space or other punctuation ends it, so ids are found inside Chinese sentences too).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_@.\-]+")


def _alternation(table: Mapping[str, str], joined: bool = False) -> re.Pattern:
    """Any key of ``table`` between non-word neighbours; with ``joined`` a ``_``
    neighbour is a boundary too (``coach_王芳_9090``)."""
    alts = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    word = "A-Za-z0-9" if joined else "A-Za-z0-9_"
    return re.compile(rf"(?<![{word}])(?:{alts})(?![{word}])")
_SIMPLE_ID_RE = re.compile(r"[A-Za-z0-9_@.\-]+")


def looks_pseudonymized(value: object) -> bool:
    """Whether ``value`` has the form of a pseudonym (``X-`` + 16 lowercase hex digits)."""
    return isinstance(value, str) and _PSEUDONYM_RE.fullmatch(value) is not None


class Pseudonymizer:
    """Pseudonymize everything a command writes, consistently, at write time.

    One instance serves one run: it remembers every raw id it has replaced (or was shown
    with :meth:`learn`) so that the same ids are also replaced where they appear as a
    word inside free text.

    Parameters
    ----------
    salt : bytes or str
        The secret (see :func:`resolve_salt`).
    keep : iterable of str
        Labels and sentinels: ``"center"`` (the gaming checks' centre-level rows) and
        model names (``kpi``, ``360``). A kept word never shadows an id: in an id column
        it is kept only while it is not an id the run's inputs hold (shown with
        :meth:`learn`), and inside a sentence a word equal to an input id is replaced
        even when it is a kept word (over-replacing, never leaking). Only a whole cell
        or key of a label (a ``model`` column) equal to a kept word stays as it is.

    Attributes
    ----------
    passthrough : bool
        Set when the inputs were already pseudonymized with this salt (their Parquet
        metadata carries the same ``salt_id``, :func:`input_salt_ids`): values that are
        pseudonyms pass through unchanged, so outputs join those of the earlier command.

    Notes
    -----
    Id columns are found by header (:data:`ID_PREFIXES`, matched as the loader matches
    headers: :func:`header_key`, so ``Agent_ID`` and ``customer id `` are id columns);
    the pseudonym is
    :func:`pseudonym` of the raw value, so it is the same in every table, file and
    command given the same salt, and the same as in ``ccpm report --pseudonymize``.
    Missing values and empty strings stay as they are.

    Free text is scanned for the person ids the run has seen (a command shows the
    pseudonymizer its inputs' id columns before writing): a cell that is exactly an id
    is replaced; inside longer text, a word (ASCII letters, digits, ``_@.-``, a trailing
    full stop allowed) equal to an id, or a hyphenated word made of ids, is replaced; an
    all-digit id only inside a sentence (text with a space), so that ``14:07:17`` or
    ``2026-01`` are never taken apart, though a number in a sentence equal to an
    all-digit id is replaced too (over-replacing, never leaking). Ids with other
    characters (spaces, non-ASCII letters) are matched between non-alphanumeric
    neighbours, so they are found inside Chinese text too. Customer ids are replaced in
    their columns only: no output writes them into text, and all-digit customer
    numbers would otherwise be found in every time and count (except in ``validate``'s
    quarantine, whose raw cells may repeat a caller's number: ``frame(...,
    customers_in_text=True)``). Input file names (:meth:`learn_files`) are replaced by
    :func:`file_pseudonym` wherever they appear.
    """

    def __init__(self, salt: bytes | str, *, keep: Iterable[str] = ("center",)) -> None:
        self._key = _as_bytes(salt)
        self.keep = {str(k) for k in keep}
        self.passthrough = False
        self._known: set[str] = set()  # normalised ids the run's inputs hold
        self._cache: dict[tuple[str, str], str] = {}
        self._words: dict[str, str] = {}  # raw id -> pseudonym, ids that are one word
        self._other: dict[str, str] = {}  # raw id -> pseudonym, ids with other characters
        self._other_re: dict[bool, re.Pattern] = {}  # by joined
        self._cust_words: dict[str, str] = {}  # customer ids, for the quarantine's text
        self._cust_other: dict[str, str] = {}
        self._cust_re: dict[bool, re.Pattern] = {}
        self._cust_text = False
        self._reverse: dict[str, str] = {}
        self._joined_parts = 1  # most ``_``-separated runs of a known one-word id

    @classmethod
    def from_salt_file(cls, salt_file: str | os.PathLike | None = None, **kw) -> Pseudonymizer:
        """A pseudonymizer with the salt of :func:`resolve_salt` (created if none exists)."""
        return cls(resolve_salt(salt_file), **kw)

    # ------------------------------------------------------------------ single values
    @property
    def salt_id(self) -> str:
        """A fingerprint of the salt (not the salt): equal fingerprints mean joinable ids."""
        return hmac.new(self._key, b"ccpm salt id", hashlib.sha256).hexdigest()[:_DIGITS]

    def record(self) -> dict:
        """What a manifest says about the pseudonymization (no id, no salt)."""
        return {"pseudonymized": True,
                "method": f"HMAC-SHA256 of the normalised id (NFKC, zero-width removed, "
                          f"stripped), first {_DIGITS} hex digits; prefix {PERSON_PREFIX} "
                          f"for people, {CUSTOMER_PREFIX} for customers, {FILE_PREFIX} "
                          "for input file names (extension kept)",
                "salt_id": self.salt_id,
                "id_columns": sorted(ID_PREFIXES)}

    def pseudonym(self, value: object, prefix: str = PERSON_PREFIX, *,
                  learn: bool = True) -> str:
        """The pseudonym of one id; ``keep`` values unchanged.

        With ``learn`` (default) the id is also replaced wherever it appears in text
        later; ``learn=False`` for values that are not known to be ids.
        """
        raw = str(value)
        if raw == "":
            return raw
        if not normalize_id(raw):
            return ""  # blank (white space only): no identity, the same as an empty id
        if raw in self.keep and normalize_id(raw) not in self._known:
            return raw  # a sentinel (``center``), not an id of this run's inputs
        key = (raw, prefix)
        p = self._cache.get(key)
        if p is not None:
            return p
        if self.passthrough and (_PSEUDONYM_RE.fullmatch(raw)
                                 or _FILE_PSEUDONYM_RE.fullmatch(raw)):
            p = raw  # pseudonymized earlier with this salt
        else:
            p = pseudonym(raw, self._key, prefix)
        if not learn:
            return p
        self._cache[key] = p
        self._remember(raw, p, prefix)
        norm = normalize_id(raw)
        if norm != raw and norm:
            self._remember(norm, p, prefix)
        return p

    def _remember(self, raw: str, p: str, prefix: str) -> None:
        self._reverse[p] = raw
        if prefix == CUSTOMER_PREFIX:  # found in text only in validate's quarantine
            table = self._cust_words if _SIMPLE_ID_RE.fullmatch(raw) else self._cust_other
            table[raw] = p
            if table is self._cust_words:
                self._joined_parts = max(self._joined_parts, raw.count("_") + 1)
            self._cust_re = {}
            return
        table = self._words if _SIMPLE_ID_RE.fullmatch(raw) else self._other
        if raw in table and prefix != PERSON_PREFIX:
            return  # one value used by two kinds of id (X- and A-): text names people
        table[raw] = p
        if table is self._words:
            self._joined_parts = max(self._joined_parts, raw.count("_") + 1)
        if table is self._other:
            self._other_re = {}

    def known(self, values: Iterable) -> None:
        """Mark ``values`` as ids held by the run's inputs: a kept word (``center``) equal
        to one is pseudonymized in id columns too."""
        for v in values:
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                self._known.add(normalize_id(v))

    def learn_files(self, *paths) -> None:
        """Remember the names of the input files under ``paths`` (files, folders, globs)
        so that they are written as :func:`file_pseudonym` everywhere (a per-agent
        ``alice.csv``); below a folder input, sub-folder names too."""
        for path in paths:
            if path in (None, ""):
                continue
            root = Path(str(path)).expanduser()
            for f in _expand_inputs(path):
                parts = [f.name]
                if root.is_dir():  # per-agent sub-folders (not years and months)
                    parts += [d for d in f.relative_to(root).parts[:-1]
                              if not normalize_id(d).isdigit()]
                for name in parts:
                    self.file_name(name)

    def file_name(self, name: str) -> str:
        """The pseudonym of an input file name (:func:`file_pseudonym`), remembered."""
        name = Path(str(name)).name
        p = (name if self.passthrough and _FILE_PSEUDONYM_RE.fullmatch(name)
             else file_pseudonym(name, self._key))
        self._reverse[p] = name
        table = self._words if _SIMPLE_ID_RE.fullmatch(name) else self._other
        table[name] = p
        if table is self._words:
            self._joined_parts = max(self._joined_parts, name.count("_") + 1)
        self._other_re = {}
        return p

    def ids(self, values: pd.Series, prefix: str = PERSON_PREFIX, *,
            learn: bool = True) -> pd.Series:
        """An id column with every value replaced by its pseudonym.

        Same index and name; dtype ``str``; missing values stay missing, empty strings
        and ``keep`` values stay as they are, blank ones (white space only) become empty. ``learn`` as in :meth:`pseudonym`.
        """
        uniques = pd.unique(values.dropna())
        mapping = {u: self.pseudonym(u, prefix, learn=learn) for u in uniques}
        return values.map(mapping).astype("str").where(values.notna(), None)

    def unmask(self, values: pd.Series) -> pd.Series:
        """Pseudonyms this run knows turned back into raw ids (others left as they are).

        Lets a command read an input written by another pseudonymized command (e.g.
        ``gaming_flags.csv`` into ``ccpm compare``) once the raw ids it pseudonymizes
        were learned from its own inputs.
        """
        rev = self._reverse
        return values.map(lambda v: rev.get(v, v) if isinstance(v, str) else v)

    def notebook(self, nb):
        """An executed notebook (nbformat node) with the ids and file names this
        pseudonymizer knows replaced in its metadata (papermill parameters), cell sources
        and text outputs; images and other binary outputs are left as they are."""
        nb.metadata = self.obj(nb.metadata)
        # papermill writes a parameter's non-ASCII characters as escapes (an OKR file
        # okr_王芳_9090.yml became okr = "...okr_\\u738b\\u82b3_9090.yml"): their spelling
        escaped = self._escaped_table()
        escaped_re = _alternation(escaped) if escaped else None
        for cell in nb.cells:
            cell.source = self.text(cell.source)
            if escaped_re is not None and "\\" in cell.source:
                cell.source = escaped_re.sub(lambda m: escaped[m.group(0)], cell.source)
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = self.obj(out["text"])
                for kind, value in (out.get("data") or {}).items():
                    if kind.startswith("text/") or kind.endswith("json"):
                        out["data"][kind] = self.obj(value)
        return nb

    def _escaped_table(self) -> dict[str, str]:
        """The known non-ASCII ids and file names spelled with JSON's and Python's
        backslash escapes (u + 4 hex digits, x + 2, U + 8), each to its pseudonym."""
        out: dict[str, str] = {}
        for raw, p in self._other.items():
            if raw.isascii():
                continue
            for esc in (json.dumps(raw)[1:-1], raw.encode("unicode_escape").decode("ascii")):
                if esc != raw:
                    out[esc] = p
        return out

    # ------------------------------------------------------------------ text
    def text(self, s: str, *, joined: bool = True) -> str:
        """``s`` with every known person id that appears as a word replaced by its pseudonym.

        A cell that is exactly a known id is replaced whatever the id looks like. Inside
        a longer string, ids with letters are replaced wherever they stand as a word; an
        all-digit id only inside a sentence (text with spaces), so that values such as
        ``14:07:17`` or ``2026-01`` are never taken apart.

        With ``joined`` (default), an id with letters that fills whole ``_``-separated
        runs of a longer word is replaced too (``sales_Dana_Cohen`` ->
        ``sales_A-…``): data values join words with ``_``. ``joined=False`` for column
        names and keys, which code relies on (an agent whose id is ``calls`` must not
        turn ``repeat_calls_observed`` into something else).
        """
        if not isinstance(s, str) or s in self.keep:
            return s  # a whole cell equal to a kept word is a label (a model name)
        cust = self._cust_text
        exact = (self._words.get(s) or self._other.get(s)
                 or (cust and (self._cust_words.get(s) or self._cust_other.get(s))) or None)
        if exact is not None:
            return exact
        if self._words or (cust and self._cust_words):
            sentence = any(ch.isspace() for ch in s)
            s = _TOKEN_RE.sub(lambda m: self._word(m.group(0), sentence, joined), s)
        if self._other:
            rx = self._other_re.get(joined)
            if rx is None:
                rx = self._other_re[joined] = _alternation(self._other, joined)
            s = rx.sub(lambda m: self._other[m.group(0)], s)
        if cust and self._cust_other:
            rx = self._cust_re.get(joined)
            if rx is None:
                rx = self._cust_re[joined] = _alternation(self._cust_other, joined)
            s = rx.sub(lambda m: self._cust_other[m.group(0)], s)
        return s

    def _word(self, w: str, sentence: bool, joined: bool = False) -> str:
        words = self._words
        cust = self._cust_words if self._cust_text else {}

        def known(x: str) -> bool:
            if x in words:
                return sentence or not x.isdigit()
            # a caller's number in a quarantined cell: long numbers anywhere
            return x in cust and (sentence or not x.isdigit() or len(x) >= 6)

        def sub(x: str) -> str:
            return words.get(x) or cust.get(x) or x

        if known(w):
            return sub(w)
        core = w.rstrip(".")
        if core != w and known(core):
            return sub(core) + w[len(core):]
        if "-" in core:
            parts = core.split("-")
            if any(parts) and all(known(x) for x in parts if x):
                return "-".join(sub(x) for x in parts) + w[len(core):]
        if joined and "_" in w:
            def joined_known(x: str) -> bool:
                # a long number (6 digits or more: a phone-like id) between _ too
                # (queue vip_87654321 of agent 87654321); shorter ones are counts, years
                if x.isdigit():
                    return len(x) >= 6 and (x in words or x in cust)
                return known(x)

            return self._joined(w, joined_known, sub)
        return w

    def _joined(self, w: str, known, sub) -> str:
        """``w`` with known ids that fill whole ``_``-separated runs of it replaced, the
        longest first from the left: ``x_Dana_Cohen_8855`` loses ``Dana_Cohen_8855``
        (bounded by the word's start or end or ``_``); all-digit runs only as ``known``
        allows (6 digits or more). A hyphenated or dotted run is matched as a whole too."""
        parts = w.split("_")
        longest = self._joined_parts
        out, i, changed = [], 0, False
        while i < len(parts):
            for j in range(min(len(parts), i + longest), i, -1):
                cand = "_".join(parts[i:j])
                if cand and known(cand):
                    out.append(sub(cand))
                    i, changed = j, True
                    break
                stem = cand.rstrip(".")  # a full stop ending the word
                if j == len(parts) and stem != cand and stem and not stem.isdigit() \
                        and known(stem):
                    out.append(sub(stem) + cand[len(stem):])
                    i, changed = j, True
                    break
            else:
                out.append(parts[i])
                i += 1
        return "_".join(out) if changed else w

    # ------------------------------------------------------------------ tables
    def frame(self, df: pd.DataFrame, *, ids: Mapping[str, str] | None = None,
              text: bool = True, done: Iterable[str] = (),
              customers_in_text: bool = False) -> pd.DataFrame:
        """A table with its id columns pseudonymized and ids removed from its text.

        Parameters
        ----------
        df : DataFrame
            Not modified. Index levels named like id columns are pseudonymized too.
        ids : mapping, optional
            Further id columns (name -> prefix), e.g. a raw export's ``server`` column.
        text : bool
            Also replace known ids inside every other text column, column names and
            ``attrs`` (default). ``False`` for tables whose other columns are typed
            contract fields (a validated call table), which is much faster.
        done : iterable of str
            Columns the caller has already pseudonymized: left as they are.
        customers_in_text : bool
            Also replace known customer ids inside text (``validate``'s quarantine,
            whose raw cells may repeat a caller's number).

        Returns
        -------
        DataFrame
            Same shape, columns and ``attrs`` (text replaced). Rows keep their order,
            except where it would give the raw ids away: a block of rows listed in raw-id
            order (the ids of the first id column never decrease and the block holds
            every id of the table: a panel sorted by agent, one model's rows of a long
            table) is put in pseudonym order instead (stable, so the order within an
            id is kept). Otherwise anyone who knows the roster could undo the
            pseudonyms by position.
        """
        prefixes = {**ID_PREFIXES, **(ids or {})}
        names = list(df.index.names)
        reset = (any(_id_prefix(n, prefixes) for n in names if n is not None)
                 and None not in names)
        out = df.reset_index() if reset else df.copy()
        done = set(done)
        found = {c: _id_prefix(c, prefixes) for c in out.columns if c not in done}
        cols = [c for c, p in found.items() if p is not None]
        raw_first = out[cols[0]] if cols else None
        for c in cols:
            out[c] = self.ids(out[c], found[c])
        if cols:
            perm = self._order(raw_first, out[cols[0]])
            if perm is not None:
                out = out.take(perm)
                if isinstance(df.index, pd.RangeIndex) or reset:
                    out.index = df.index if not reset else pd.RangeIndex(len(out))
        if text:
            self._cust_text, was = customers_in_text, self._cust_text
            try:
                for c in out.columns:
                    if c not in cols and c not in done:
                        out[c] = self.text_column(out[c])
            finally:
                self._cust_text = was
            if not reset and not isinstance(out.index, pd.RangeIndex):
                out.index = out.index.map(self.text)
        if reset:
            out = out.set_index(names)
        if text:
            out.columns = [self.text(c, joined=False) for c in out.columns]
            out.attrs = self._apply(dict(df.attrs), {})
        return out

    def _order(self, raw: pd.Series, pseudo: pd.Series):
        """Row positions putting raw-id-ordered blocks in pseudonym order (None: no change)."""
        import numpy as np

        ok = raw.notna().to_numpy().copy()
        if ok.any():
            txt = raw[ok].astype("str")
            ok[ok] = ~(txt.isin(self.keep) | (txt == "")).to_numpy()
        pos = np.flatnonzero(ok)
        if len(pos) < 2:
            return None
        vals = raw.to_numpy()[pos]
        try:
            down = vals[1:] < vals[:-1]
        except TypeError:  # ids of mixed types: no order to give away
            return None
        block = np.concatenate([[0], np.cumsum(down)])
        n_ids = len(pd.unique(vals))
        if n_ids < 2 or np.bincount(block).max() < n_ids:
            return None  # no block is long enough to hold every id
        per = pd.Series(vals).groupby(block).nunique()
        full = set(per.index[per.to_numpy() == n_ids])
        if not full:
            return None
        perm = np.arange(len(raw))
        ps = pseudo.to_numpy()
        for b in full:
            at = pos[block == b]
            perm[at] = at[np.argsort(ps[at], kind="stable")]
        return None if (perm == np.arange(len(raw))).all() else perm

    def text_column(self, s: pd.Series) -> pd.Series:
        """Column ``s`` with the run's ids replaced inside its text (:meth:`text`), once per
        distinct value (a queue name, a call id, a team); other dtypes as they are."""
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = [self.text(c) for c in s.cat.categories]
            return s.cat.rename_categories(cats) if len(set(cats)) == len(cats) else s
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
            return s
        try:
            uniques = pd.unique(s.dropna())
        except TypeError:  # unhashable cells (lists): one by one
            return s.map(lambda v: self._apply(v, {}))
        changed = {}
        for u in uniques:
            v = self._apply(u, {}) if not isinstance(u, str) else self.text(u)
            if v is not u and v != u:
                changed[u] = v
        if not changed:
            return s
        return s.map(lambda v: changed.get(v, v) if isinstance(v, str) else v)

    # ------------------------------------------------------------------ any object
    def learn(self, *objs) -> None:
        """Remember the ids in ``objs``, the run's inputs (tables, dicts, lists,
        dataclasses; see :meth:`obj`), so that text written later has them replaced and a
        kept word equal to one of them is pseudonymized too; nothing is written."""
        seen: set[int] = set()
        for o in objs:
            self._collect(o, seen, True)

    def obj(self, x):
        """A pseudonymized copy of ``x``: tables, dicts (an id-named key's value, an OKR's
        ``agents`` keys), lists, tuples, sets, strings and dataclass instances, walked
        recursively. All ids in ``x`` are learned first, so text anywhere in ``x`` loses
        ids found anywhere else in it. Other values are returned as they are.
        """
        self._collect(x, set(), False)
        return self._apply(x, {})

    def _learn_values(self, values, prefix: str, known: bool = False) -> None:
        uniques = pd.unique(pd.Series(values).dropna())
        if known and prefix != CUSTOMER_PREFIX:  # kept words are about people
            self.known(uniques)
        for u in uniques:
            self.pseudonym(u, prefix)

    def _collect(self, x, seen: set[int], known: bool = False) -> None:
        if x is None or isinstance(x, (str, bytes, int, float, bool)):
            return
        if id(x) in seen:
            return
        seen.add(id(x))
        if isinstance(x, pd.DataFrame):
            for c in x.columns:
                p = _id_prefix(c, ID_PREFIXES)
                if p is not None:
                    self._learn_values(x[c], p, known)
            for c in x.index.names:
                p = _id_prefix(c, ID_PREFIXES) if c is not None else None
                if p is not None:
                    self._learn_values(x.index.get_level_values(c), p, known)
            self._collect(dict(x.attrs), seen, known)
        elif isinstance(x, pd.Series):
            if x.name in ID_PREFIXES:
                self._learn_values(x, ID_PREFIXES[x.name], known)
        elif isinstance(x, Mapping):
            for k, v in x.items():
                if k in ID_PREFIXES:
                    items = [i for i in (v if isinstance(v, (list, tuple, set)) else [v])
                             if isinstance(i, (str, int)) and not isinstance(i, bool)]
                    if known:
                        self.known(items)
                    for item in items:
                        self.pseudonym(item, ID_PREFIXES[k])
                elif k == "agents" and isinstance(v, Mapping):
                    if known:
                        self.known(v)
                    for a in v:
                        self.pseudonym(a, PERSON_PREFIX)
                self._collect(v, seen, known)
        elif isinstance(x, (list, tuple, set, frozenset)):
            for v in x:
                self._collect(v, seen, known)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            for f in dataclasses.fields(x):
                self._collect(getattr(x, f.name, None), seen, known)

    def _apply(self, x, memo: dict):
        if isinstance(x, str):
            return self.text(x)
        if x is None or isinstance(x, (bytes, int, float, bool)):
            return x
        if id(x) in memo:
            return memo[id(x)]
        if isinstance(x, pd.DataFrame):
            out = self.frame(x)
        elif isinstance(x, pd.Series):
            out = (self.ids(x, ID_PREFIXES[x.name]) if x.name in ID_PREFIXES
                   else self.text_column(x))
        elif isinstance(x, Mapping):
            out = {}
            for k, v in x.items():
                if k in ID_PREFIXES and isinstance(v, (str, int)) and not isinstance(v, bool):
                    val = self.pseudonym(v, ID_PREFIXES[k])
                elif k in ID_PREFIXES and isinstance(v, (list, tuple)):
                    val = type(v)(self.pseudonym(i, ID_PREFIXES[k]) if isinstance(i, str)
                                  else self._apply(i, memo) for i in v)
                elif k == "agents" and isinstance(v, Mapping):
                    val = {self.pseudonym(a, PERSON_PREFIX): self._apply(b, memo)
                           for a, b in v.items()}
                else:
                    val = self._apply(v, memo)
                out[self.text(k, joined=False) if isinstance(k, str) else k] = val
            if type(x) is not dict:
                try:
                    out = type(x)(out)
                except TypeError:
                    pass
        elif isinstance(x, (list, tuple, set, frozenset)):
            items = [self._apply(v, memo) for v in x]
            out = type(x)(items) if not hasattr(x, "_fields") else type(x)(*items)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            changes = {f.name: self._apply(getattr(x, f.name), memo)
                       for f in dataclasses.fields(x) if f.init and hasattr(x, f.name)}
            out = dataclasses.replace(x, **changes)
        else:
            out = x
        memo[id(x)] = out
        return out
