"""Made-up but valid member data for tests, demos and benchmarks (never real people's numbers)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from members.domain.id_numbers import check_character

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国志文斌宇浩然欣怡子涵梓轩"
# Region codes of a few real county-level divisions; the rest of the number is invented.
# Mostly 汉族, as in most branches.
ETHNICITIES_FOR_FAKES = ("汉族",) * 18 + ("回族", "满族", "壮族", "蒙古族", "土家族", "苗族")
REGIONS = ("110101", "110105", "310104", "440106", "510104", "320102", "330106", "420106")


def id_number(birth: date, male: bool, rng: random.Random) -> str:
    serial = rng.randrange(0, 100) * 10 + (
        rng.choice((1, 3, 5, 7, 9)) if male else rng.choice((0, 2, 4, 6, 8))
    )
    first17 = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


def person(rng: random.Random, today: date | None = None) -> dict[str, str]:
    """One member as a branch secretary would type it, with Chinese values."""
    today = today or date(2026, 11, 26)
    birth = today - timedelta(days=rng.randrange(15 * 365, 28 * 365))
    joined = birth + timedelta(days=rng.randrange(14 * 366, (today - birth).days))
    male = rng.random() < 0.5
    return {
        "name": rng.choice(SURNAMES)
        + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
        "gender": "男" if male else "女",
        "ethnicity": rng.choice(ETHNICITIES_FOR_FAKES),
        "birth_date": birth.isoformat(),
        "id_number": id_number(birth, male, rng),
        "joined_on": joined.isoformat(),
        "joined_place": rng.choice(
            ("北京市第一中学", "上海市实验学校", "广州市第二中学", "成都七中")
        ),
        "phone": "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
        "employer": rng.choice(("", "某某科技有限公司", "某某大学", "某某医院")),
    }


def people(count: int, rng: random.Random, today: date | None = None) -> list[dict[str, str]]:
    """`count` members with distinct ID numbers (random ones collide now and then, as in life)."""
    out: dict[str, dict[str, str]] = {}
    while len(out) < count:
        p = person(rng, today)
        out.setdefault(p["id_number"], p)
    return list(out.values())


def as_xlsx(rows: list[dict[str, object]]) -> bytes:
    """A sheet as a secretary fills the template: Chinese headers, one member a row."""
    import io

    from openpyxl import Workbook

    from members.domain.imports import TEMPLATE_COLUMNS

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([header for header, _, _ in TEMPLATE_COLUMNS])
    for row in rows:
        sheet.append([row.get(field, "") for _, field, _ in TEMPLATE_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_csv(rows: list[dict[str, object]], bom: bool = True) -> bytes:
    """The same as UTF-8 CSV, with the byte-order mark Excel writes (or without)."""
    import csv
    import io

    from members.domain.imports import TEMPLATE_COLUMNS

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for header, _, _ in TEMPLATE_COLUMNS])
    for row in rows:
        writer.writerow([row.get(field, "") for _, field, _ in TEMPLATE_COLUMNS])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()
