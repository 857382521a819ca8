"""CSV import of customers, the pure part: the file's rows checked and normalised, each either a row to
store or a rejection with its line and reason. The service applies the rows to the database."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tongdai.crm import normalise
from tongdai.crm.schemas import CustomerFields

#: column names accepted for each field (case-insensitive)
ALIASES = {
    "external_id": ("external_id", "id", "customer_id", "customer_number"),
    "name": ("name", "full_name", "company"),
    "kind": ("kind", "type"),
    "vip_tier": ("vip_tier", "vip", "tier"),
    "language": ("language", "lang"),
    "address": ("address",),
    "notes": ("notes", "note"),
    "phones": ("phone", "phones", "mobile", "phone_number"),
    "emails": ("email", "emails", "e-mail"),
}
#: several phones or e-mails in one cell are separated by these
_SEPARATORS = re.compile(r"[;|,]")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, no name column)."""


@dataclass(frozen=True)
class ImportRow:
    line: int
    fields: dict[str, Any]
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @property
    def external_id(self) -> str | None:
        value = self.fields.get("external_id")
        return str(value) if value else None


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    external_id: str | None = None


@dataclass
class Parsed:
    rows: list[ImportRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    total: int = 0


def _columns(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    found: dict[str, int] = {}
    for target, aliases in ALIASES.items():
        for i, name in enumerate(names):
            if name in aliases and target not in found:
                found[target] = i
    if "name" not in found:
        raise ImportFileError("the header names no 'name' column")
    return found


def parse(text: str, region: str, *, max_rows: int = 50_000) -> Parsed:
    """Every data row of the CSV `text` checked: to store, or rejected with its line and reason."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ImportFileError("the file is empty")
    cols = _columns(header)
    out = Parsed()
    seen_ids: dict[str, int] = {}
    seen_contacts: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        out.total += 1
        if out.total > max_rows:
            raise ImportFileError(f"more than {max_rows} rows: split the file")
        result = _row(line, cells, cols, region)
        if isinstance(result, ImportRow):
            result = _first_of_its_kind(result, seen_ids, seen_contacts)
        (out.rows if isinstance(result, ImportRow) else out.rejected).append(result)  # type: ignore[arg-type]
    return out


def _cell(cells: list[str], cols: dict[str, int], name: str) -> str:
    i = cols.get(name)
    return cells[i].strip() if i is not None and i < len(cells) else ""


def _row(line: int, cells: list[str], cols: dict[str, int], region: str) -> ImportRow | Rejection:
    raw = {k: _cell(cells, cols, k) for k in ("external_id", "name", "kind", "vip_tier", "language", "address", "notes")}
    external_id = raw["external_id"] or None
    if not raw["name"]:
        return Rejection(line, "missing name", external_id)
    values: dict[str, Any] = {k: v for k, v in raw.items() if v}
    values["external_id"] = external_id
    if "vip_tier" in values:
        values["vip_tier"] = values["vip_tier"].lower()
    if "language" in values:
        values["language"] = values["language"].lower()
    try:
        fields = CustomerFields.model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        return Rejection(line, f"bad {'.'.join(str(x) for x in err['loc'])}: {err['msg']}", external_id)
    phones: list[str] = []
    emails: list[str] = []
    for kind, bucket in (("phone", phones), ("email", emails)):
        for value in filter(None, (v.strip() for v in _SEPARATORS.split(_cell(cells, cols, kind + "s")))):
            norm = normalise.contact(kind, value, region)
            if norm is None:
                return Rejection(line, f"bad {'phone' if kind == 'phone' else 'e-mail'}: {value!r}", external_id)
            if norm not in bucket:
                bucket.append(norm)
    return ImportRow(line, fields, tuple(phones), tuple(emails))


def _first_of_its_kind(row: ImportRow, seen_ids: dict[str, int], seen_contacts: dict[str, int]) -> ImportRow | Rejection:
    """The row, or its rejection when an earlier row of the file has its external id or a contact of it."""
    ext = row.external_id
    if ext is not None and ext in seen_ids:
        return Rejection(row.line, f"duplicate external_id {ext!r} (line {seen_ids[ext]})", ext)
    for value in (*row.phones, *row.emails):
        if value in seen_contacts:
            return Rejection(row.line, f"duplicate {value} (line {seen_contacts[value]})", ext)
    if ext is not None:
        seen_ids[ext] = row.line
    for value in (*row.phones, *row.emails):
        seen_contacts[value] = row.line
    return row
