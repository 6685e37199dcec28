"""China's administrative regions (province / city / district) from python-stdnum's data file.

python-stdnum ships the GB/T 2260 code table (cn/loc.dat, with the year ranges in which each code
was used) to check 身份证 numbers; we reuse it for the registration cascade so the list is
maintained upstream and never fetched over the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

_LINE = re.compile(r'^(\s*)(\d+) (\w+)="(.*)"$')
_RANGED = re.compile(r"^\[(\d{4})?-(\d{4})?\](.+)$")
# Placeholders the table uses for "the city's urban districts" etc.: not places a user picks.
_PLACEHOLDERS = {"市辖区", "市区", "郊区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"}


@dataclass
class Region:
    code: str
    name: str
    children: dict[str, Region] = field(default_factory=dict)


def _current_name(value: str) -> str | None:
    """The name in use today, or None when the code is no longer in use."""
    for part in reversed(value.split(",")):
        match = _RANGED.match(part)
        if not match:
            return part
        _start, end, name = match.groups()
        if end is None:
            return name
    return None


@lru_cache(maxsize=1)
def _all_codes() -> dict[str, str]:
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    codes: dict[str, str] = {}
    province = ""
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        indent, code, _key, value = match.groups()
        if not indent:
            province = code
            codes[province + "0000"] = value
        else:
            codes[province + code] = value
    return codes


@lru_cache(maxsize=1)
def tree() -> dict[str, Region]:
    """Provinces keyed by 2-digit code, each with cities (4-digit) and districts (6-digit)."""
    provinces: dict[str, Region] = {}
    for code, value in sorted(_all_codes().items()):
        name = _current_name(value)
        if name is None:
            continue
        if code.endswith("0000"):
            provinces[code[:2]] = Region(code[:2], name)
            continue
        province = provinces.get(code[:2])
        if province is None:
            continue
        if code.endswith("00"):
            city_name = province.name if name in _PLACEHOLDERS else name
            province.children[code[:4]] = Region(code[:4], city_name)
            continue
        if name in _PLACEHOLDERS:
            continue
        city = province.children.get(code[:4])
        if city is None:
            city = province.children[code[:4]] = Region(code[:4], province.name)
        city.children[code] = Region(code, name)
    # Drop cities left without districts (e.g. a code kept only for its placeholder children).
    for province in provinces.values():
        province.children = {k: v for k, v in province.children.items() if v.children}
    return {k: v for k, v in provinces.items() if v.children}


def as_json() -> list[dict]:
    """The tree in the compact shape the cascade widget reads."""
    return [
        {
            "code": p.code,
            "name": p.name,
            "cities": [
                {
                    "code": c.code,
                    "name": c.name,
                    "districts": [{"code": d.code, "name": d.name} for d in c.children.values()],
                }
                for c in p.children.values()
            ],
        }
        for p in tree().values()
    ]


def resolve(district_code: str) -> tuple[str, str, str] | None:
    """(province, city, district) names for a current 6-digit district code, or None."""
    if not re.fullmatch(r"\d{6}", district_code or ""):
        return None
    province = tree().get(district_code[:2])
    city = province.children.get(district_code[:4]) if province else None
    district = city.children.get(district_code) if city else None
    if district is None:
        return None
    return province.name, city.name, district.name


def code_existed(code: str) -> bool:
    """Whether a 6-digit code appears in the table at all, at any time (for 身份证 checks)."""
    return code in _all_codes()
