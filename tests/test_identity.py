"""统一社会信用代码 and 身份证号 checks, with messages that say which part is wrong."""

import pytest

from app.identity import InvalidIdentity, gender_of, normalize_credit_code, normalize_id_number
from app.models import Enterprise
from factories import credit_code, id_number


def test_valid_credit_code_is_normalized(app):
    code = credit_code(42)
    assert normalize_credit_code(" " + code.lower() + " ") == code


@pytest.mark.parametrize(
    "value,message",
    [
        ("", "请输入"),
        ("91340104MA000004", "应为18位"),
        ("9134010AMA0000042X", "第1–8位"),
        ("91340104MA000O042X", "无效字符"),
    ],
)
def test_bad_credit_codes(app, value, message):
    with pytest.raises(InvalidIdentity) as excinfo:
        normalize_credit_code(value)
    assert message in excinfo.value.message


def test_credit_code_check_digit(app):
    code = credit_code(43)
    wrong = code[:-1] + ("1" if code[-1] != "1" else "2")
    with pytest.raises(InvalidIdentity) as excinfo:
        normalize_credit_code(wrong)
    assert "校验位" in excinfo.value.message


def test_enterprise_model_refuses_invalid_credit_code(app):
    with pytest.raises(InvalidIdentity):
        Enterprise(
            name="x", credit_code="123", region_code="340104", province="安徽省", city="合肥市", district="蜀山区"
        )


def test_id_number_valid_lowercase_x_and_gender(app):
    number = next(n for n in (id_number(seq=s) for s in range(100, 200)) if n.endswith("X"))
    assert normalize_id_number(number.lower()) == number
    assert gender_of(id_number(seq=123)) == "male" and gender_of(id_number(seq=124)) == "female"


@pytest.mark.parametrize(
    "value,message",
    [
        ("34010419900101123", "应为18位"),
        ("3401041990010112A4", "前17位应为数字"),
        ("340104" + "19900230" + "123", "出生日期无效"),
        ("999999" + "19900101" + "123", "地区码不存在"),
    ],
)
def test_bad_id_numbers(app, value, message):
    from stdnum.cn import ric

    if len(value) == 17 and value.isdigit() and message != "应为18位":
        value = value + ric.calc_check_digit(value + "0")
    with pytest.raises(InvalidIdentity) as excinfo:
        normalize_id_number(value)
    assert message in excinfo.value.message


def test_id_number_check_digit(app):
    number = id_number()
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    with pytest.raises(InvalidIdentity) as excinfo:
        normalize_id_number(wrong)
    assert "校验位" in excinfo.value.message


def test_region_created_after_birth_is_accepted(app):
    # Code 340104 was first used in 1983; a person born in 1980 and registered there later is real.
    from stdnum.cn import ric

    number = id_number(region="340104", birth="19800101")
    assert not ric.is_valid(number)  # python-stdnum refuses it ...
    assert normalize_id_number(number) == number  # ... we do not
