"""Published numbers (``baselines/published.toml``) as typed records.

The file is data, read here and nowhere else; see its header for the status marks. Each entry
belongs to a *protocol* (dataset, split, metric definition, timing hardware, source), and the
tables give every protocol its own column group, so numbers measured differently never share a
column.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PUBLISHED_PATH", "Protocol", "Published", "PublishedEntry", "load_published"]

#: the checkout's baselines/published.toml ($LSBENCH_PUBLISHED overrides it)
PUBLISHED_PATH = Path(__file__).resolve().parents[2] / "baselines" / "published.toml"

#: numeric fields per table
VALUE_FIELDS = {2: ("fm_gt1", "fm_gt2", "seconds"), 3: ("mapr50", "mapr70", "seconds"), 4: ("ap", "ap50")}


@dataclass(frozen=True)
class Protocol:
    key: str
    table: int
    label: str
    dataset: str
    split: str
    metric: str
    time: str
    source: str
    ambiguity: str = ""


@dataclass(frozen=True)
class PublishedEntry:
    table: int
    label: str
    method: str
    protocol: str
    values: dict[str, float]
    status: str
    source: str
    ap_definition: str = ""
    note: str = ""

    def value(self, name: str) -> float:
        return self.values.get(name, math.nan)


@dataclass(frozen=True)
class Published:
    path: Path
    sources: dict[str, str]
    protocols: dict[str, Protocol]
    entries: list[PublishedEntry] = field(default_factory=list)

    def for_table(self, table: int) -> list[PublishedEntry]:
        return [e for e in self.entries if e.table == table]

    def protocols_for(self, table: int) -> list[Protocol]:
        """The protocols of a table's entries, in order of first appearance."""
        keys = list(dict.fromkeys(e.protocol for e in self.for_table(table)))
        return [self.protocols[k] for k in keys]

    def source_text(self, key: str) -> str:
        return self.sources.get(key, key)


def _fail(path: Path, msg: str) -> None:
    raise ValueError(f"{path}: {msg}")


def load_published(path: str | os.PathLike[str] | None = None) -> Published | None:
    """Read the published numbers; None when the file does not exist (e.g. an installed wheel).

    ``path`` defaults to ``$LSBENCH_PUBLISHED`` or the checkout's ``baselines/published.toml``.
    A file that exists but is malformed raises ``ValueError`` naming the file and the entry.
    """
    p = Path(path or os.environ.get("LSBENCH_PUBLISHED") or PUBLISHED_PATH)
    if not p.is_file():
        if path is not None:
            raise FileNotFoundError(f"published numbers file {p} does not exist")
        return None
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p} is not valid TOML: {exc}") from None
    sources = {str(k): str(v) for k, v in data.get("sources", {}).items()}
    protocols: dict[str, Protocol] = {}
    for key, raw in data.get("protocols", {}).items():
        try:
            protocols[key] = Protocol(key=key, table=int(raw["table"]), label=str(raw["label"]),
                                      dataset=str(raw["dataset"]), split=str(raw["split"]),
                                      metric=str(raw["metric"]), time=str(raw["time"]),
                                      source=str(raw["source"]), ambiguity=str(raw.get("ambiguity", "")))
        except KeyError as exc:
            _fail(p, f"protocol {key!r} lacks {exc.args[0]!r}")
    entries = []
    for table, fields in VALUE_FIELDS.items():
        for i, raw in enumerate(data.get(f"table{table}", [])):
            where = f"[[table{table}]] entry {i + 1} ({raw.get('label', '?')!r})"
            for req in ("label", "protocol", "status"):
                if req not in raw:
                    _fail(p, f"{where} lacks {req!r}")
            if raw["protocol"] not in protocols:
                _fail(p, f"{where} names unknown protocol {raw['protocol']!r}; known: {', '.join(protocols)}")
            if protocols[raw["protocol"]].table != table:
                _fail(p, f"{where} uses protocol {raw['protocol']!r} of table {protocols[raw['protocol']].table}")
            values: dict[str, Any] = {}
            for f in fields:
                if f in raw:
                    v = raw[f]
                    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                        _fail(p, f"{where}: {f} must be a non-negative number, got {v!r}")
                    values[f] = float(v)
            unknown = set(raw) - set(fields) - {"label", "method", "protocol", "status", "source",
                                                 "ap_definition", "note"}
            if unknown:
                _fail(p, f"{where} has unknown field(s) {', '.join(sorted(unknown))}; numeric fields of "
                         f"table {table}: {', '.join(fields)}")
            entries.append(PublishedEntry(table=table, label=str(raw["label"]), method=str(raw.get("method", "")),
                                          protocol=str(raw["protocol"]), values=values, status=str(raw["status"]),
                                          source=str(raw.get("source", protocols[raw["protocol"]].source)),
                                          ap_definition=str(raw.get("ap_definition", "")),
                                          note=str(raw.get("note", ""))))
    return Published(p, sources, protocols, entries)
