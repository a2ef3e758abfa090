"""A report's JSON turned into a sheet's rows: the total first, children by name, breakdowns
spread over one column per value."""

from __future__ import annotations

from shared.report_sheet import Figure, percent, report_rows

SHEET = (
    Figure("总数", "total"),
    Figure("性别", "gender", labels={"male": "男", "female": "女"}),
    Figure("民族", "ethnicity", labels={}),
    Figure("比率", "rate", show=percent),
)


def test_the_total_comes_first_then_each_child_by_its_name() -> None:
    report = {
        "org_id": "root",
        "total": 3,
        "gender": {"female": 2, "male": 1},
        "ethnicity": {"汉族": 2, "回族": 1},
        "rate": 0.5,
        "children": [
            {"org_id": "a", "total": 1, "gender": {"female": 1}, "ethnicity": {"回族": 1}},
            {"org_id": "b", "total": 2, "gender": {"female": 1, "male": 1}, "rate": None},
        ],
    }
    headers, rows = report_rows(report, SHEET, {"a": "甲县委"})
    assert headers == ["组织", "总数", "性别：男", "性别：女", "民族：回族", "民族：汉族", "比率"]
    assert rows == [
        ["合计", 3, 1, 2, 1, 2, "50.00%"],
        ["b", 2, 1, 1, 0, 0, ""],  # without a name, its id; by name
        ["甲县委", 1, 0, 1, 1, 0, ""],  # a value it lacks is 0; a figure it lacks is blank
    ]


def test_labelled_values_stay_as_columns_even_when_nobody_has_them() -> None:
    headers, rows = report_rows({"org_id": "x", "total": 0, "gender": {}}, SHEET[:2], {})
    assert headers == ["组织", "总数", "性别：男", "性别：女"]
    assert rows == [["合计", 0, 0, 0]]
