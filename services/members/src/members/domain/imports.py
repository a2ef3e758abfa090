"""Batch import of members from a sheet (批量导入): headers, rows, all-or-nothing validation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from members.domain.id_numbers import InvalidIdNumber, parse_id_number
from members.domain.member import MemberFields, validate_member
from members.domain.text import clean, is_blank

HEADER_ROW = 1
FIRST_DATA_ROW = 2
MAX_ROWS = 10_000

# (Chinese header, field, required) in the order of the template handed to branches.
TEMPLATE_COLUMNS: list[tuple[str, str, bool]] = [
    ("姓名", "name", True),
    ("性别", "gender", True),
    ("民族", "ethnicity", True),
    ("出生日期", "birth_date", True),
    ("身份证号", "id_number", True),
    ("入团时间", "joined_on", True),
    ("入团地点", "joined_place", True),
    ("手机号", "phone", False),
    ("工作单位", "employer", False),
    ("电子邮箱", "email", False),
]
HEADERS: dict[str, str] = {zh: field for zh, field, _ in TEMPLATE_COLUMNS} | {
    field: field for _, field, _ in TEMPLATE_COLUMNS
}
_CHINESE_HEADER = {field: zh for zh, field, _ in TEMPLATE_COLUMNS}
_REQUIRED = [field for _, field, required in TEMPLATE_COLUMNS if required]
# Secretaries space out two-character headers ("姓　名") and mark required ones ("姓名*").
_WHITESPACE = re.compile(r"\s+")
_REQUIRED_MARKS = ("（必填）", "(必填)")
_STARS = "*＊"


@dataclass(frozen=True)
class ImportProblem:
    row: int
    column: str
    message: str


class ColumnMap(dict[int, str]):
    """Column index → field, remembering each header as the file wrote it for error messages."""

    def __init__(self, *, english: bool = False) -> None:
        super().__init__()
        self.written: dict[str, str] = {}
        self.english = english

    def label(self, field: str) -> str:
        return self.written.get(field) or (field if self.english else _CHINESE_HEADER[field])


def header_field(cell: object) -> str | None:
    """The field a header cell names, or None for a column the import ignores."""
    if is_blank(cell):
        return None
    text = _WHITESPACE.sub("", str(cell))
    previous = None
    while text != previous:
        previous = text
        for mark in _REQUIRED_MARKS:
            text = text.removesuffix(mark)
        text = text.strip(_STARS)
    return HEADERS.get(text.lower())


def map_headers(header_row: Sequence[object]) -> tuple[ColumnMap, list[ImportProblem]]:
    found: list[tuple[int, str, str]] = []
    for index, cell in enumerate(header_row):
        field = header_field(cell)
        if field is not None:
            found.append((index, field, clean(str(cell))))
    # Problems name columns in the file's own language; a file with any Chinese header is Chinese.
    english = bool(found) and all(written.isascii() for _, _, written in found)
    columns = ColumnMap(english=english)
    problems: list[ImportProblem] = []
    first_index: dict[str, int] = {}
    for index, field, written in found:
        if field in first_index:
            other = first_index[field]
            problems.append(
                ImportProblem(
                    HEADER_ROW,
                    written,
                    f"与第 {column_letter(other)} 列“{columns.written[field]}”重复 / "
                    f"Same column as column {column_letter(other)} ({columns.written[field]})",
                )
            )
            continue
        first_index[field] = index
        columns[index] = field
        columns.written[field] = written
    problems.extend(
        ImportProblem(HEADER_ROW, columns.label(field), "缺少必填列 / Required column is missing")
        for field in _REQUIRED
        if field not in first_index
    )
    return columns, problems


def validate_rows(
    rows: Iterable[Sequence[object]],
    columns: dict[int, str],
    today: date,
    max_rows: int = MAX_ROWS,
    *,
    date1904: bool = False,
) -> tuple[list[MemberFields], list[ImportProblem]]:
    """All rows valid → the members and no problems; otherwise no members and every problem."""
    numbered, problems = validate_numbered_rows(rows, columns, today, max_rows, date1904=date1904)
    if problems:
        return [], problems
    return [member for _, member in numbered], []


def validate_numbered_rows(
    rows: Iterable[Sequence[object]],
    columns: dict[int, str],
    today: date,
    max_rows: int = MAX_ROWS,
    *,
    date1904: bool = False,
) -> tuple[list[tuple[int, MemberFields]], list[ImportProblem]]:
    """Each valid member with its sheet row, even beside other rows' problems.

    A caller that checks more than the sheet can (an ID number already registered in the
    province) needs the row to report against and adds its problems before refusing the file.
    """
    members: list[tuple[int, MemberFields]] = []
    problems: list[ImportProblem] = []
    first_row_of: dict[str, int] = {}
    data_rows = 0
    for row_number, row in enumerate(rows, start=FIRST_DATA_ROW):
        raw = {field: row[i] if i < len(row) else None for i, field in columns.items()}
        # Only the columns we import count: templates often prefill 序号 or 备注 far down.
        if all(is_blank(value) for value in raw.values()):
            continue
        data_rows += 1
        if data_rows > max_rows:
            # Stop reading: a runaway file is refused whole, not validated to its end.
            return [], [
                ImportProblem(
                    row_number,
                    "",
                    f"团员数据超过 {max_rows} 行，请拆分成多个文件分别导入 / "
                    f"More than {max_rows} member rows; split the file and import the parts",
                )
            ]
        fields, field_problems = validate_member(raw, today, date1904=date1904)
        problems.extend(
            ImportProblem(row_number, _label(columns, p.field), f"{p.message_zh} / {p.message_en}")
            for p in field_problems
        )
        key = fields.id_number if fields else _id_key(raw.get("id_number"), today)
        if key is not None:
            if key in first_row_of:
                first = first_row_of[key]
                problems.append(
                    ImportProblem(
                        row_number,
                        _label(columns, "id_number"),
                        f"与第 {first} 行身份证号重复 / Same ID number as row {first}",
                    )
                )
                continue
            first_row_of[key] = row_number
        if fields is not None:
            members.append((row_number, fields))
    if data_rows == 0:
        return [], [
            ImportProblem(FIRST_DATA_ROW, "", "文件中没有团员数据 / The file has no member rows")
        ]
    return members, problems


def column_letter(index: int) -> str:
    """Excel's name of a zero-based column index: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _label(columns: Mapping[int, str], field: str) -> str:
    """The column as the file wrote it when known; a plain mapping gets the Chinese header."""
    if isinstance(columns, ColumnMap):
        return columns.label(field)
    return _CHINESE_HEADER.get(field, field)


def _id_key(value: object, today: date) -> str | None:
    """The normalised ID number of a row that has other problems, to still catch duplicates."""
    if not isinstance(value, str):
        return None
    try:
        return parse_id_number(value, today).value
    except InvalidIdNumber:
        return None
