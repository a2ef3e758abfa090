"""An .xlsx written as it streams out (member lists, reports): one sheet of text cells, the
zip's pieces sent as soon as they are made, so a province-wide list goes out row batch by row
batch and is never held whole in memory (openpyxl's write-only mode still keeps the finished
file until it is saved). Standard library only: every service may export.

The sheet uses inline strings (no shared-string table to build first) and the zip writes each
member with a data descriptor, which needs no seeking back.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from typing import IO, cast
from xml.sax.saxutils import escape

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_END = "</sheetData></worksheet>"


def _workbook(sheet_name: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )


def _row(values: Iterable[object]) -> str:
    cells = "".join(
        f'<c t="inlineStr"><is><t>{escape("" if v is None else str(v))}</t></is></c>'
        for v in values
    )
    return f"<row>{cells}</row>"


class _Pipe:
    """A write-only file object whose bytes are taken out as they arrive."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


class XlsxStream:
    """`start(headers)`, then `rows(batch)` as many times as there are batches, then
    `finish()`: each returns the bytes to send now."""

    def __init__(self, sheet_name: str) -> None:
        self._pipe = _Pipe()
        self._zip = zipfile.ZipFile(cast(IO[bytes], self._pipe), "w", zipfile.ZIP_DEFLATED)
        self._sheet_name = sheet_name
        self._sheet: IO[bytes] | None = None

    def start(self, headers: Sequence[str]) -> bytes:
        for name, content in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", ROOT_RELS),
            ("xl/workbook.xml", _workbook(self._sheet_name)),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ):
            self._zip.writestr(name, content)
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self._write(SHEET_START + _row(headers))
        return self._pipe.take()

    def rows(self, batch: Iterable[Sequence[object]]) -> bytes:
        self._write("".join(_row(r) for r in batch))
        return self._pipe.take()

    def finish(self) -> bytes:
        self._write(SHEET_END)
        assert self._sheet is not None
        self._sheet.close()
        self._zip.close()
        return self._pipe.take()

    def _write(self, xml: str) -> None:
        assert self._sheet is not None, "start() first"
        self._sheet.write(xml.encode("utf-8"))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def whole(sheet_name: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A small sheet (a report) in one piece."""
    sheet = XlsxStream(sheet_name)
    return sheet.start(headers) + sheet.rows(rows) + sheet.finish()


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a browser save the answer under its Chinese name."""
    from urllib.parse import quote

    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
