"""Reading the sheets branch secretaries upload (.xlsx, UTF-8 .csv) and writing the template."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from members.domain.imports import TEMPLATE_COLUMNS
from shared.problems import Problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Sheet:
    rows: Sequence[Sequence[object]]  # header first, as the cells came
    date1904: bool = False


def unreadable(detail: str) -> Problem:
    return Problem(
        422,
        "member.import_unreadable",
        detail,
        errors=[{"row": 1, "column": "", "message": detail}],
    )


def read_sheet(content: bytes, filename: str | None, max_rows: int) -> Sheet:
    """Sniff by content: an .xlsx is a zip archive; anything else must be UTF-8 text (CSV).

    Reading stops after `max_rows + 1` rows with anything in them: enough to tell the file is too
    long, without reading a million rows first.
    """
    if content[:4] == b"PK\x03\x04":
        return _read_xlsx(content, max_rows)
    old_excel = content[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if old_excel or (filename or "").lower().endswith((".xls", ".et")):
        raise unreadable(
            "旧版 Excel（.xls）文件无法读取，请另存为 .xlsx 或 UTF-8 编码的 .csv / "
            "Old Excel (.xls) files cannot be read: save as .xlsx or UTF-8 .csv."
        )
    return _read_csv(content, max_rows)


def _take(rows: Iterable[Sequence[object]], max_rows: int) -> list[Sequence[object]]:
    taken: list[Sequence[object]] = []
    filled = 0
    for row in rows:
        taken.append(row)
        if any(cell not in (None, "") for cell in row):
            filled += 1
            if filled > max_rows + 1:  # the header and one row too many
                break
    return taken


def _read_xlsx(content: bytes, max_rows: int) -> Sheet:
    # openpyxl raises many kinds of errors for a damaged file (zip, XML, missing parts, bad
    # values); to a secretary they all mean one thing.
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            rows = _take((list(r) for r in sheet.iter_rows(values_only=True)), max_rows)
            epoch = getattr(book, "epoch", None)
            return Sheet(rows, date1904=bool(epoch and epoch.year == 1904))
        finally:
            book.close()
    except Exception as exc:
        raise unreadable(
            "无法读取该 Excel 文件，请用 Excel 重新保存为 .xlsx / "
            "The Excel file cannot be read: save it again as .xlsx."
        ) from exc


def _read_csv(content: bytes, max_rows: int) -> Sheet:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise unreadable(
            "CSV 文件不是 UTF-8 编码：请在 Excel 中另存为“CSV UTF-8” / "
            "The CSV file is not UTF-8: save it as 'CSV UTF-8' in Excel."
        ) from exc
    try:
        return Sheet(_take(csv.reader(io.StringIO(text)), max_rows))
    except csv.Error as exc:  # a cell longer than the csv module allows, a stray NUL, ...
        raise unreadable(
            "CSV 文件格式有误（例如某个单元格过长）/ "
            "The CSV file is malformed (a cell is too long, for example)."
        ) from exc


def template_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "团员信息"
    for col, (header, field, required) in enumerate(TEMPLATE_COLUMNS, start=1):
        cell = sheet.cell(row=1, column=col, value=header)
        cell.font = Font(bold=required)
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = (
            22 if field in ("id_number", "employer", "joined_place") else 14
        )
        # Text format for the whole column: ID and phone numbers must not become numbers.
        sheet.column_dimensions[letter].number_format = "@"
    notes = book.create_sheet("填写说明")
    for line in _instructions():
        notes.append([line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow([header for header, _, _ in TEMPLATE_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _instructions() -> Iterator[str]:
    yield "加粗的列必须填写；每行一名团员，最多 10000 行。"
    yield "身份证号：18 位，最后一位可为 X；该列已设为文本格式，请勿改成数字格式。"
    yield "日期：写成 2019-05-04、2019/5/4 或 2019年5月4日；不要只写年月（如 2019.05）。"
    yield "性别：男 或 女。民族：56 个民族之一，可写“汉”或“汉族”。"
    yield "入团时须年满 14 周岁。手机号：11 位。"
    yield "同一身份证号已在本省登记的，请办理组织关系转接，不要重复导入。"
