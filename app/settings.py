"""Configuration data kept in the database (defaults seeded by `flask seed`, edited in the back office)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from . import db
from .memo import per_request
from .models import MemberTier, Setting

DEFAULT_MEMBERSHIP_NOTICE = """\
一、入会条件：在本省依法登记注册、从事安全技术防范产品生产、销售、设计、施工、维护及相关服务的企业，承认协会章程，自愿申请入会。
二、会员权利：参加协会组织的活动；获得协会提供的信息、培训与咨询服务；对协会工作提出意见和建议。
三、会员义务：遵守协会章程，执行协会决议；维护协会合法权益；按规定缴纳会费；如实提供企业信息。
四、入会程序：阅读本须知并在线填写入会申请表，协会审核通过后缴纳会费并上传转账截图，协会确认缴费后即入会成功，会员有效期自确认缴费之日起一年。
五、会费标准：按会员级别缴纳年度会费，具体金额以入会申请页面所示为准。
"""

DEFAULT_PAYMENT_INSTRUCTIONS = """\
请通过银行转账缴纳会费，转账时请备注企业名称。转账完成后上传转账截图并填写联系手机号，协会核对到账后确认。
（收款户名、开户行与账号由协会在后台“系统设置”中维护。）
"""

# 信息变更: which proof each changed field needs (a line per proof: "name: field, field").
DEFAULT_CHANGE_PROOFS = """\
变更后的营业执照: name, legal_person, registered_capital, address, business_scope
法定代表人身份证: legal_person
"""

# Certificate layouts (app/certificate_pdf.py): the first line is the title, every other line a paragraph;
# {placeholders} are filled from the certificate (see README, "Certificates as PDF").
DEFAULT_CERTIFICATE_LAYOUTS: dict[str, tuple[str, str]] = {
    "qualification": (
        "资质证书",
        "安全技术防范工程企业资质证书\n（{copy}）\n企业名称：{holder}\n统一社会信用代码：{credit_code}\n"
        "资质等级：{level}\n证书编号：{number}\n有效期：{valid_from} 至 {valid_until}\n"
        "发证日期：{issued_on}\n年审记录：{annual_reviews}",
    ),
    "membership": (
        "会员证书",
        "会员证书\n{holder}\n为本会会员单位。\n会员编号：{number}\n有效期：{valid_from} 至 {valid_until}\n"
        "发证日期：{issued_on}",
    ),
    "training": (
        "培训合格证书",
        "培训合格证书\n{holder}\n参加本会组织的安全技术防范技术培训，考核合格。\n证书编号：{number}\n"
        "发证日期：{issued_on}",
    ),
    "filing": (
        "备案证明",
        "外省企业备案证明\n{holder}（统一社会信用代码：{credit_code}）已在本会办理外省企业备案。\n"
        "原籍资质：{home_qualification}\n本省项目负责人：{person_in_charge}\n备案编号：{number}\n"
        "有效期：{valid_from} 至 {valid_until}\n发证日期：{issued_on}",
    ),
}

# key -> (default value, description shown to the association's administrators)
DEFAULT_SETTINGS: dict[str, tuple[str, str]] = {
    "membership.notice_text": (DEFAULT_MEMBERSHIP_NOTICE, "入会须知正文"),
    "membership.notice_seconds": ("15", "入会须知最短阅读时间（秒）"),
    "membership.period_months": ("12", "会员有效期（月，自确认缴费之日起）"),
    "membership.payment_instructions": (DEFAULT_PAYMENT_INSTRUCTIONS, "缴费说明（收款账户等）"),
    "qualification.annual_window_days_before": ("30", "资质年审：周年日前可申请的天数"),
    "qualification.annual_window_days_after": ("60", "资质年审：周年日后仍可申请的天数"),
    "qualification.renewal_days_before": ("90", "到期换证：到期前可申请的天数"),
    "qualification.renewal_grace_days": ("0", "到期换证：到期后仍可申请的天数（宽限期）"),
    "review.long_wait_days": ("5", "审核等待提醒天数（超过即在审核总览中提示）"),
    "number_pattern.membership": ("皖安协会[{year}]第{seq:04d}号", "会员证书编号格式"),
    "number_pattern.qualification": ("皖安协资[{year}]第{seq:04d}号", "资质证书编号格式"),
    "number_pattern.filing": ("皖安协备[{year}]第{seq:04d}号", "备案证明编号格式"),
    "number_pattern.training": ("皖安协培[{year}]第{seq:05d}号", "培训合格证书编号格式"),
    "filing.validity_months": ("12", "外省企业备案：备案有效期（月，自通过之日起）"),
    "filing.renewal_days_before": ("60", "外省企业备案：备案到期前多少天起可再次申请备案"),
    "certificate.association_name": ("安徽省安全技术防范行业协会", "证书与核验页上的协会名称"),
    **{
        f"certificate_layout.{kind}": (text, f"证书版式（{name}）：第一行为标题，其余每行一段正文；占位符见 README")
        for kind, (name, text) in DEFAULT_CERTIFICATE_LAYOUTS.items()
    },
    "sms.hourly_budget": ("500", "平台每小时短信验证码上限（超过后拒绝发送，并在工作台提醒协会管理员）"),
    "staff.educations": ("初中及以下,高中/中专,大专,本科,硕士研究生,博士研究生", "技术人员学历选项（逗号分隔）"),
    "staff.titles": ("无,技术员,助理工程师,工程师,高级工程师,正高级工程师", "技术人员职称选项（逗号分隔）"),
    "staff.positions": (
        "项目经理,技术负责人,设计人员,施工员,质量员,安全员,调试人员,维护人员,其他",
        "技术人员岗位选项（逗号分隔）",
    ),
    "change.proof_requirements": (
        DEFAULT_CHANGE_PROOFS,
        "信息变更：每行一种证明材料，“材料名称：需要它的字段”（字段：name 企业名称, legal_person 法定代表人, "
        "registered_capital 注册资本, address 企业地址, contact_person 联系人, mobile 联系手机, landline 企业固话, "
        "email 电子邮箱, business_scope 经营范围；逗号分隔）",
    ),
    "replacement.fee": ("0", "证书补办费用（元；0 表示不收费，选择证书发放方式后即完成）"),
    "legacy.level_map": (
        "壹级=一级\n贰级=二级\n叁级=三级\n一级资质=一级\n二级资质=二级\n三级资质=三级",
        "旧系统切换：旧系统资质等级名称与平台资质等级的对应（每行“旧名称=平台等级名称”）",
    ),
    # Scheduled jobs (app/jobs.py); times are Asia/Shanghai, read by `flask jobs scheduler` when it starts.
    "jobs.reminder_days": ("90,30,7", "定时任务：到期前提醒的天数（逗号分隔）"),
    "jobs.reminders_at": ("08:00", "定时任务：每日发送到期与年审提醒的时间（北京时间 时:分）"),
    "jobs.expiry_at": ("00:10", "定时任务：每日标记证书与会员到期的时间（北京时间 时:分）"),
    "jobs.cleanup_at": ("03:00", "定时任务：每日清理过期验证码、表单草稿与错误工作簿的时间（北京时间 时:分）"),
    "jobs.sms_retry_minutes": ("15", "定时任务：失败短信重发的间隔（分钟）"),
    "jobs.sms_retry_attempts": ("3", "定时任务：一条通知短信最多发送的次数（含首次）"),
}

DEFAULT_TIERS = [("会员单位", 2000, 1), ("理事单位", 5000, 2), ("常务理事单位", 10000, 3), ("副会长单位", 20000, 4)]


def seed_defaults() -> dict[str, int]:
    """Insert whatever default configuration is missing; never overwrites what the association set."""
    existing = set(db.session.scalars(select(Setting.key)))
    added_settings = 0
    for key, (value, description) in DEFAULT_SETTINGS.items():
        if key not in existing:
            db.session.add(Setting(key=key, value=value, description=description))
            added_settings += 1
    added_tiers = 0
    if not db.session.scalar(select(func.count()).select_from(MemberTier)):
        for name, fee, order in DEFAULT_TIERS:
            db.session.add(MemberTier(name=name, annual_fee=Decimal(fee), sort_order=order, active=True))
            added_tiers += 1
    from .qualification import seed_levels

    added_levels = seed_levels()
    from .notify import seed_templates

    added_templates = seed_templates()
    db.session.commit()
    return {"settings": added_settings, "tiers": added_tiers, "levels": added_levels, "templates": added_templates}


def get_setting(key: str) -> str:
    value = _all_settings().get(key)
    if value is None:
        return DEFAULT_SETTINGS[key][0]
    return value


def _all_settings() -> dict[str, str]:
    """Every setting in one query, once per request (a page reads up to ten)."""

    def load() -> dict[str, str]:
        return dict(db.session.execute(select(Setting.key, Setting.value)).tuples().all())

    return per_request("settings", load)


def get_int(key: str) -> int:
    try:
        return int(get_setting(key).strip())
    except ValueError:
        return int(DEFAULT_SETTINGS[key][0])


def get_list(key: str) -> list[str]:
    """A comma-separated choice list (Chinese or ASCII commas)."""
    return [item.strip() for item in get_setting(key).replace("，", ",").split(",") if item.strip()]


# What each setting does, shown under its name in 系统参数 (settings without an entry show their name only).
SETTING_HELP: dict[str, Any] = {
    "membership.notice_text": _l("Shown when an enterprise opens the membership notice."),
    "membership.notice_seconds": _l(
        "How long the notice must stay open before the 已阅读入会须知 box can be ticked; the server checks it too."
    ),
    "membership.period_months": _l(
        "A membership starts on the day the payment is confirmed and lasts this many months."
    ),
    "membership.payment_instructions": _l(
        "Shown on the payment page: account holder, bank and account number. "
        "While empty, enterprises are asked to call the association and the workbench warns you."
    ),
    "qualification.annual_window_days_before": _l("The annual review opens this many days before each anniversary."),
    "qualification.annual_window_days_after": _l("The annual review stays open this many days after the anniversary."),
    "qualification.renewal_days_before": _l("Renewal opens this many days before the certificate expires."),
    "qualification.renewal_grace_days": _l("Renewal stays open this many days after expiry (0: not after)."),
    "review.long_wait_days": _l("Applications waiting longer than this are flagged in the review overview."),
    "number_pattern.membership": _l("{year} is the year, {seq:04d} the yearly sequence with four digits."),
    "number_pattern.qualification": _l("{year} is the year, {seq:04d} the yearly sequence with four digits."),
    "number_pattern.filing": _l("{year} is the year, {seq:04d} the yearly sequence with four digits."),
    "number_pattern.training": _l("{year} is the year, {seq:05d} the yearly sequence with five digits."),
    "sms.hourly_budget": _l("Verification codes the platform sends per hour at most."),
    "staff.educations": _l("The choices of the staff form and the sign-up sheet, separated by commas."),
    "staff.titles": _l("The choices of the staff form and the sign-up sheet, separated by commas."),
    "staff.positions": _l("The choices of the staff form and the sign-up sheet, separated by commas."),
    "legacy.level_map": _l(
        "One line per old level name: old name=platform level name. Used by `flask legacy import certificates`; "
        "a level name found neither here nor among the platform's levels refuses the file."
    ),
}


def payment_instructions_missing(key: str = "membership.payment_instructions") -> bool:
    """Whether the association has not yet replaced the seeded text by its own bank account."""
    value = get_setting(key).strip()
    return not value or value == DEFAULT_PAYMENT_INSTRUCTIONS.strip()


def setting_help(key: str) -> str:
    return str(SETTING_HELP.get(key, ""))
