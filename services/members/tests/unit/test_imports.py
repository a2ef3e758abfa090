"""Batch import: headers in either language, every bad row named, nothing imported on any error."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

import pytest

from members.domain.id_numbers import check_character
from members.domain.imports import (
    HEADERS,
    TEMPLATE_COLUMNS,
    ImportProblem,
    column_letter,
    map_headers,
    validate_numbered_rows,
    validate_rows,
)
from members.domain.member import MemberFields

TODAY = date(2026, 3, 1)
CHINESE = ["姓名", "性别", "民族", "出生日期", "身份证号", "入团时间", "入团地点", "手机号"]
ENGLISH = ["name", "gender", "ethnicity", "birth_date", "id_number", "joined_on", "joined_place"]


def make_id(born: date, sequence: str) -> str:
    first17 = f"320102{born:%Y%m%d}{sequence}"
    return first17 + check_character(first17)


def row(name: str, gender: str, born: date, sequence: str, /, **changes: object) -> list[object]:
    cells: dict[str, object] = {
        "name": name,
        "gender": gender,
        "ethnicity": "汉族",
        "birth_date": born.isoformat(),
        "id_number": make_id(born, sequence),
        "joined_on": date(born.year + 15, 5, 4),
        "joined_place": "南京市第一中学团委",
        "phone": "13912345678",
    }
    cells.update(changes)
    return list(cells.values())


CLEAN = [
    row("王芳", "女", date(2006, 3, 7), "022"),
    row("李强", "男", date(2007, 11, 30), "011"),
    row("阿依古丽", "女", date(2008, 1, 15), "046", ethnicity="维吾尔", phone=None),
]


def run(
    rows: Iterable[Sequence[object]], header: Sequence[object] = CHINESE, max_rows: int = 10_000
) -> tuple[list[MemberFields], list[ImportProblem]]:
    columns, header_problems = map_headers(header)
    assert header_problems == []
    return validate_rows(rows, columns, TODAY, max_rows)


def test_a_clean_sheet_gives_every_member_and_no_problem() -> None:
    members, problems = run(CLEAN)
    assert problems == []
    assert [m.name for m in members] == ["王芳", "李强", "阿依古丽"]
    assert members[2].ethnicity == "维吾尔族" and members[2].phone is None
    assert members[1].joined_on == date(2022, 5, 4)


def test_every_problem_of_every_bad_row_is_listed_with_its_row_and_chinese_column() -> None:
    bad_id = make_id(date(2006, 3, 7), "022")[:-1] + "Y"
    rows = [
        CLEAN[0],
        row("", "女", date(2007, 1, 1), "002", ethnicity="汉人"),
        CLEAN[1],
        row("赵六", "男", date(2007, 1, 1), "013", birth_date="2007.01", id_number=bad_id),
        row("钱七", "男", date(2007, 1, 1), "015", id_number=3.20102200701010e17),
        row("孙八", "女", date(2007, 1, 1), "024", joined_on="2020-05-04", phone="12345"),
    ]
    members, problems = run(rows)
    assert members == []
    assert [(p.row, p.column) for p in problems] == [
        (3, "姓名"),
        (3, "民族"),
        (5, "出生日期"),
        (5, "身份证号"),
        (6, "身份证号"),
        (7, "手机号"),
        (7, "入团时间"),
    ]
    assert problems[2].message == (
        "缺少日：请写成 2019-05-04 这样的完整日期 / The day is missing: write a full date like 2019-05-04"
    )
    assert problems[4].message.startswith("身份证号被 Excel 存成了数字")
    assert all(" / " in p.message for p in problems)


def test_a_repeated_id_number_is_flagged_on_every_later_row_naming_the_first() -> None:
    first = row("王芳", "女", date(2006, 3, 7), "022")
    again = row("王芳", "女", date(2006, 3, 7), "022", name="王 芳")
    # Written in lower case with spaces, and with another problem on the row: still the same.
    third = row("王芳", "女", date(2006, 3, 7), "022", gender="?")
    third[4] = " " + str(third[4]).lower()
    members, problems = run([CLEAN[1], first, again, third])
    assert members == []
    assert problems == [
        ImportProblem(4, "身份证号", "与第 3 行身份证号重复 / Same ID number as row 3"),
        ImportProblem(5, "性别", problems[1].message),
        ImportProblem(5, "身份证号", "与第 3 行身份证号重复 / Same ID number as row 3"),
    ]


def test_blank_rows_are_skipped_but_keep_their_sheet_row_numbers() -> None:
    rows: list[Sequence[object]] = [CLEAN[0], [], [None] * 8, ["  ", None, "\u3000"], CLEAN[1]]
    rows.append(row("坏", "男", date(2007, 1, 1), "013", gender="X"))
    _, problems = run(rows)
    assert [(p.row, p.column) for p in problems] == [(7, "性别")]


def test_cells_only_in_ignored_columns_do_not_make_a_row() -> None:
    header = ["序号", *CHINESE, "备注"]
    rows: list[list[object]] = [[1, *CLEAN[0], ""], [2, *([None] * 8), "空行"], [3]]
    members, problems = run(rows, header)
    assert problems == [] and len(members) == 1


def test_a_short_row_has_blank_trailing_cells() -> None:
    members, problems = run([CLEAN[0][:7]])
    assert problems == [] and members[0].phone is None


def test_a_sheet_without_member_rows_is_a_problem() -> None:
    assert run([[None] * 8, []]) == (
        [],
        [ImportProblem(2, "", "文件中没有团员数据 / The file has no member rows")],
    )


def test_more_rows_than_allowed_is_a_single_problem_and_reading_stops() -> None:
    consumed: list[int] = []

    def endless() -> Iterator[list[object]]:
        while True:
            consumed.append(1)
            yield CLEAN[0]

    members, problems = run(endless(), max_rows=3)
    assert members == []
    assert len(problems) == 1 and problems[0].row == 5
    assert "3" in problems[0].message and "split" in problems[0].message
    assert len(consumed) == 4


def test_the_row_limit_itself_is_allowed() -> None:
    members, problems = run(CLEAN, max_rows=3)
    assert problems == [] and len(members) == 3


def test_english_headers_work_and_problems_name_the_english_column() -> None:
    members, problems = run([r[:7] for r in CLEAN], ENGLISH)
    assert problems == [] and len(members) == 3
    _, problems = run([row("x", "?", date(2007, 1, 1), "013")[:7]], ENGLISH)
    assert [(p.row, p.column) for p in problems] == [(2, "gender")]


@pytest.mark.parametrize(
    "header",
    [
        [
            " 姓名 ",
            "性别*",
            "民族（必填）",
            "出生日期(必填)",
            "*身份证号",
            "入团时间＊",
            "入 团 地 点",
        ],
        ["姓\u3000名", "性\u3000别", "民族", "出生日期", "身份证号 *", "入团时间", "入团地点"],
        ["Name", "GENDER", "ethnicity", "birth_date", "id_number", "joined_on", "joined_place*"],
    ],
)
def test_header_variants_are_recognised(header: list[object]) -> None:
    columns, problems = map_headers(header)
    assert problems == []
    assert list(columns.values()) == ENGLISH


def test_problems_name_the_column_as_the_file_wrote_it() -> None:
    header = ["姓名*", "性别*", "民族", "出生日期", "身份证号（必填）", "入团时间", "入团地点"]
    _, problems = run([row("x", "?", date(2007, 1, 1), "013")[:7]], header)
    assert [p.column for p in problems] == ["性别*"]


def test_unknown_columns_are_ignored_in_any_position() -> None:
    columns, problems = map_headers(["序号", None, *CHINESE, "备注", 2024])
    assert problems == []
    assert columns == {i + 2: HEADERS[h] for i, h in enumerate(CHINESE)}


def test_missing_required_columns_are_problems_of_row_one() -> None:
    columns, problems = map_headers(["姓名", "性别", "民族", "手机号"])
    assert [(p.row, p.column) for p in problems] == [
        (1, "出生日期"),
        (1, "身份证号"),
        (1, "入团时间"),
        (1, "入团地点"),
    ]
    assert all(p.message == "缺少必填列 / Required column is missing" for p in problems)
    assert list(columns.values()) == ["name", "gender", "ethnicity", "phone"]


def test_missing_columns_of_an_english_file_are_named_in_english() -> None:
    _, problems = map_headers(ENGLISH[:5])
    assert [p.column for p in problems] == ["joined_on", "joined_place"]


def test_a_column_given_twice_is_a_problem_naming_the_first() -> None:
    _, problems = map_headers([*CHINESE, "name", "手机号 "])
    assert problems == [
        ImportProblem(1, "name", "与第 A 列“姓名”重复 / Same column as column A (姓名)"),
        ImportProblem(1, "手机号", "与第 H 列“手机号”重复 / Same column as column H (手机号)"),
    ]


def test_an_empty_header_row_misses_every_required_column() -> None:
    _, problems = map_headers([])
    assert [p.column for p in problems] == [zh for zh, _, required in TEMPLATE_COLUMNS if required]


def test_the_template_and_the_header_table_agree() -> None:
    assert [zh for zh, _, _ in TEMPLATE_COLUMNS] == [
        "姓名",
        "性别",
        "民族",
        "出生日期",
        "身份证号",
        "入团时间",
        "入团地点",
        "手机号",
        "工作单位",
        "电子邮箱",
    ]
    assert all(HEADERS[zh] == field == HEADERS[field] for zh, field, _ in TEMPLATE_COLUMNS)
    assert [required for _, _, required in TEMPLATE_COLUMNS] == [True] * 7 + [False] * 3


def test_a_plain_dict_of_columns_names_problems_with_chinese_headers() -> None:
    columns = dict(enumerate(ENGLISH))
    _, problems = validate_rows([row("x", "?", date(2007, 1, 1), "013")[:7]], columns, TODAY)
    assert [p.column for p in problems] == ["性别"]


def test_real_date_cells_and_serials_from_openpyxl_are_accepted() -> None:
    cells = row("王芳", "女", date(2006, 3, 7), "022")
    cells[3], cells[5] = datetime(2006, 3, 7), 44685  # 2022-05-04
    members, problems = run([cells])
    assert problems == [] and members[0].joined_on == date(2022, 5, 4)


def test_column_letters_follow_excel() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


def test_numbered_rows_keep_the_valid_members_and_their_rows_beside_the_problems() -> None:
    columns, _ = map_headers(CHINESE)
    rows = [CLEAN[0], [], row("坏", "男", date(2007, 1, 1), "013", gender="X"), CLEAN[1], CLEAN[1]]
    numbered, problems = validate_numbered_rows(rows, columns, TODAY)
    assert [(number, member.name) for number, member in numbered] == [(2, "王芳"), (5, "李强")]
    assert [(p.row, p.column) for p in problems] == [(4, "性别"), (6, "身份证号")]


def test_the_column_map_names_each_field_as_the_file_wrote_it() -> None:
    columns, _ = map_headers(
        ["姓名*", "性别", "民族", "出生日期", "身份证号", "入团时间", "入团地点"]
    )
    assert columns.label("name") == "姓名*"
    assert columns.label("phone") == "手机号"
    english, _ = map_headers(ENGLISH)
    assert english.label("phone") == "phone"
