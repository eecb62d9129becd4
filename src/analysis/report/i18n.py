"""Every translatable string of the reports, in one place.

``t(key, lang, **fields)`` looks a key up for a language (``"en"`` or ``"zh-CN"``) and
fills ``str.format`` fields. Both languages must hold exactly the same keys (a test
checks it), so a report never falls back to English half-way through.

Figure and table labels are keys too (``col.*`` for table headers, ``model.*`` for
model names, ``check.*`` for gaming checks); :func:`labels` returns them as a plain
dict for plotting functions that take a ``labels`` mapping.
"""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["LANGS", "STRINGS", "t", "labels", "check_lang", "translate_columns"]

LANGS = ("en", "zh-CN")

_EN: dict[str, str] = {
    # document
    "doc.title": "Contact-center performance report",
    "doc.subtitle": "Performance-management models compared, and metrics tested for gaming",
    "doc.generated": "Generated {date}",
    "doc.source": "Data: {source}",
    "doc.period": "Period: {period}",
    "doc.all_periods": "all periods",
    "doc.page": "Page",
    "doc.confidential": "Internal — pseudonymized",
    "doc.not_pseudonymized": "Internal — contains agent identifiers",
    # generic
    "common.unavailable": "This section is not available in this build: {what} is not installed yet.",
    "common.no_input": "Not shown: no {what} was given to this run.",
    "common.none_found": "None.",
    "common.agents": "agents",
    "common.calls": "calls",
    # summary
    "summary.title": "Management summary",
    "summary.intro": (
        "What the data says in five minutes: the headline numbers, how far the four "
        "performance-management models agree, and which agents' metrics show signs of gaming. "
        "The detail follows in the later sections."
    ),
    "summary.kpis": "Headline numbers",
    "summary.findings": "Key findings",
    "summary.finding.volume": (
        "{calls} calls offered to {agents} agents in {queues} queues between {start} and {end}."
    ),
    "summary.finding.quarantine": "{n} rows ({share}) broke the data contract and were set aside.",
    "summary.finding.agreement": (
        "The models agree {level} on who performs best (Kendall's W = {w})."
    ),
    "summary.finding.agreement.high": "strongly",
    "summary.finding.agreement.mid": "moderately",
    "summary.finding.agreement.low": "weakly",
    "summary.finding.recommend": (
        "Least sensitive to gaming: {model}; the gaming agents rise least in its ranking."
    ),
    "summary.finding.flags": (
        "{n} agent-periods flagged for possible gaming at a false-discovery rate of {alpha}."
    ),
    "summary.finding.noflags": (
        "No agent's metrics show signs of gaming at a false-discovery rate of {alpha}."
    ),
    "summary.finding.changepoints": "{n} change points found in daily rates (first: {first}).",
    "summary.caveat": (
        "A flag is a reason to look at calls, not proof of misconduct: review recordings and "
        "talk to the agent before acting."
    ),
    # KPI table
    "kpi.title": "Key performance indicators (KPI)",
    "kpi.intro": "Center-level operational measures over the report period.",
    "kpi.calls_offered": "Calls offered",
    "kpi.calls_handled": "Calls handled",
    "kpi.abandon_rate": "Abandonment rate",
    "kpi.aht": "Average handle time (s)",
    "kpi.talk": "Average talk time (s)",
    "kpi.short_share": "Short calls (< {s:.0f} s)",
    "kpi.transfer_rate": "Transfer rate",
    "kpi.resolution": "Resolved on the call",
    "kpi.csat": "Satisfaction (1–5)",
    "kpi.agents": "Active agents",
    "kpi.definitions": "Metric definitions",
    "kpi.model_scores": "Agents' scores under the KPI model",
    # models
    "models.title": "Performance-management models compared",
    "models.intro": (
        "Each model turns the same agent-by-period metrics into a score and a ranking. "
        "Where the rankings disagree, the choice of model decides who is rewarded."
    ),
    "models.agreement": "Agreement between models",
    "models.agreement.text": "Kendall's W across all models: {w}.",
    "models.properties": "Properties of each model",
    "models.top": "Top and bottom agents under {model}",
    "models.not_computable": "{model} could not be computed: {reason}",
    "model.kpi": "KPI",
    "model.okr": "OKR",
    "model.bsc": "Balanced scorecard",
    "model.360": "360-degree feedback",
    "okr.title": "Objectives and key results (OKR)",
    "okr.intro": (
        "Key results are graded 0.0–1.0; 0.6–0.7 is the expected sweet spot "
        "(red 0–0.3, yellow 0.4–0.6, green 0.7–1.0)."
    ),
    "okr.objectives": "Objectives and key results",
    "bsc.title": "Balanced scorecard",
    "bsc.intro": (
        "Kaplan and Norton's four perspectives: financial, customer, internal process, "
        "learning and growth."
    ),
    "r360.title": "360-degree feedback",
    "r360.intro": (
        "Ratings by rater group. Peer and direct-report groups with fewer than {k} raters "
        "are suppressed."
    ),
    "r360.groups": "Ratings by rater group",
    # gaming
    "gaming.title": "Gaming checks",
    "gaming.intro": (
        "Each check tests every agent's metrics against a calibrated null (peers in the same "
        "queue, and the agent's own earlier periods); p-values are adjusted for the number of "
        "tests with the Benjamini–Hochberg false-discovery rate."
    ),
    "gaming.flags": "Flagged agent-periods",
    "gaming.byCheck": "Tests and flags by check",
    "gaming.skipped": "Checks not run",
    "gaming.changepoints": "Change points",
    "gaming.summary": "Summary",
    "gaming.truth": "Against the planted truth (synthetic data)",
    "gaming.truth.text": "Planted gamers found: {tp} of {pos}; honest agents flagged: {fp} of {neg}.",
    # data quality
    "dq.title": "Data and method",
    "dq.intro": "Which data this report was built from, and what was set aside.",
    "dq.inputs": "Inputs",
    "dq.quarantine": "Rows set aside (quarantine) by reason",
    "dq.quarantine.none": "No row broke the data contract.",
    "dq.coverage": "Columns that carry data",
    "dq.daily": "Calls per day",
    "dq.software": "Software",
    "dq.pseudonymized": "Agent and customer identifiers are replaced by salted pseudonyms.",
    "dq.acknowledgement": "Acknowledgement",
    "dq.acknowledgement.anonymous_bank": (
        "Call records: Anonymous Bank call-center data, Technion Service Enterprise "
        "Engineering (SEE) lab, collected by Guedj & Mandelbaum. Used under its terms, "
        "which require this acknowledgement."
    ),
    # metric names (analysis.metrics)
    "metric.calls": "Calls handled",
    "metric.aht_s": "Average handle time (talk + hold + wrap-up)",
    "metric.talk_s": "Mean talk time",
    "metric.hold_s": "Mean hold time",
    "metric.acw_s": "Mean after-call work",
    "metric.short_call_rate": "Share of short calls",
    "metric.transfer_rate": "Transfer rate",
    "metric.repeat_call_rate": "Repeat-call rate (same customer calls again)",
    "metric.repeat_calls_observed": "Calls with a fully observed repeat window",
    "metric.resolved_rate": "Share marked resolved",
    "metric.csat_mean": "Mean satisfaction score",
    "metric.csat_responses": "Survey responses",
    "metric.qa_mean": "Mean quality score",
    "metric.complaint_rate": "Complaint rate",
    "metric.agent_hangup_rate": "Share of calls the agent disconnected",
    "direction.higher": "higher is better",
    "direction.lower": "lower is better",
    "direction.neutral": "neutral",
    "col.direction": "Direction",
    "check.bunching_center": "Bunching below the handle-time target (center)",
    "check.bunching_agent": "Bunching below the handle-time target (agent)",
    "check.changepoints": "Change points",
    "check.end_of_day_stretch": "Stretching calls near shift end",
    "check.acw_inflation": "After-call work inflation",
    "check.hold_inflation": "Hold inflation",
    "check.okr_sandbagging": "OKR sandbagging",
    "check.reciprocity_360": "Reciprocal 360 ratings",
    "check.repeat_after_short": "Repeat calls after short calls",
    "check.short_calls_peer": "Short calls vs peers",
    "check.short_calls_trend": "Short calls vs own history",
    "check.survey_selection": "Survey selection",
    "check.transfer_dumping": "Transfer dumping",
    "outcome.answered": "answered",
    "outcome.abandoned": "abandoned",
    "outcome.transferred": "transferred",
    "rater.self": "self",
    "rater.supervisor": "supervisor",
    "rater.peer": "peer",
    "rater.customer": "customer",
    "rater.direct_report": "direct report",
    # figures
    "fig.agreement": "Rank agreement (Kendall's tau-b) between models",
    "fig.scores": "Agents' scores by model",
    "fig.gaming_sensitivity": "How far gaming agents rise in each model's ranking",
    "fig.daily": "Calls offered per day",
    "fig.flags": "Flagged agent-periods by check",
    "fig.aht": "Handle time by agent",
    "figlab.agreement.colorbar": "tau-b",
    "figlab.scores.x": "model",
    "figlab.scores.y": "percentile rank (100 = best)",
    "figlab.scores.flagged": "gaming agents",
    "figlab.scores.other": "other agents",
    "figlab.gaming_sensitivity.x": "mean percentile of gaming agents − 50",
    "figlab.gaming_sensitivity.y": "model",
    "figlab.gaming_sensitivity.none": "no gaming agents known: nothing to show",
    # deck
    "deck.title": "Contact-center performance: headline findings",
    "deck.findings": "Key findings",
    "deck.agreement": "Do the models agree?",
    "deck.gaming": "Signs of gaming",
    "deck.data": "Data",
    # table headers
    "col.agent_id": "Agent",
    "col.period": "Period",
    "col.model": "Model",
    "col.model_a": "Model A",
    "col.model_b": "Model B",
    "col.kendall_tau": "Kendall's tau",
    "col.p_value": "p",
    "col.q_value": "q (BH)",
    "col.score": "Score",
    "col.rank": "Rank",
    "col.check": "Check",
    "col.effect": "Effect",
    "col.effect_unit": "Unit",
    "col.flagged": "Flagged",
    "col.n": "n",
    "col.k": "k",
    "col.detail": "Detail",
    "col.tests": "Tests",
    "col.flags": "Flags",
    "col.reason": "Reason",
    "col.rows": "Rows",
    "col.share": "Share",
    "col.input": "Input",
    "col.file": "File",
    "col.sha256": "SHA-256",
    "col.rows_read": "Rows read",
    "col.valid": "Valid",
    "col.quarantined": "Quarantined",
    "col.column": "Column",
    "col.non_missing": "Non-missing",
    "col.measure": "Measure",
    "col.value": "Value",
    "col.package": "Package",
    "col.version": "Version",
    "col.stability": "Stability (ICC)",
    "col.validity": "Predictive validity",
    "col.gaming_sensitivity": "Gaming sensitivity",
    "col.fairness": "Fairness (queue share)",
    "col.scope": "Scope",
    "col.metric": "Metric",
    "col.date": "Date",
    "col.before": "Before",
    "col.after": "After",
    "col.name": "Name",
    "col.definition": "Definition",
    "col.unit": "Unit",
    "col.rater_group": "Rater group",
    "col.raters": "Raters",
    "col.mean_score": "Mean score",
    "col.shown": "Shown",
    "col.objective": "Objective",
    "col.key_result": "Key result",
    "col.baseline": "Baseline",
    "col.target": "Target",
    "col.attainment": "Attainment",
    "col.grade": "Grade",
    "col.perspective": "Perspective",
    "col.weight": "Weight",
    "col.calls": "Calls",
    "col.skipped_reason": "Why",
    "input.calls": "Call records",
    "input.ratings": "360 ratings",
    "input.okr": "OKR definitions",
    "input.roster": "Agent roster",
    "input.config": "Model configuration",
    "input.truth": "Planted truth (synthetic)",
    "input.mapping": "Column mapping",
    "value.yes": "yes",
    "value.no": "no",
}

_ZH: dict[str, str] = {
    "doc.title": "呼叫中心绩效报告",
    "doc.subtitle": "绩效管理模型比较与指标博弈检测",
    "doc.generated": "生成于 {date}",
    "doc.source": "数据：{source}",
    "doc.period": "期间：{period}",
    "doc.all_periods": "全部期间",
    "doc.page": "页",
    "doc.confidential": "内部资料 — 已假名化",
    "doc.not_pseudonymized": "内部资料 — 含坐席标识",
    "common.unavailable": "本节暂不可用：{what} 尚未安装。",
    "common.no_input": "未显示：本次运行未提供{what}。",
    "common.none_found": "无。",
    "common.agents": "名坐席",
    "common.calls": "通电话",
    "summary.title": "管理摘要",
    "summary.intro": (
        "五分钟读懂数据：核心数字、四种绩效管理模型的一致程度，以及哪些坐席的指标显示出博弈迹象。"
        "详细内容见后续各节。"
    ),
    "summary.kpis": "核心数字",
    "summary.findings": "主要发现",
    "summary.finding.volume": (
        "{start} 至 {end} 期间，{queues} 个队列共呼入 {calls} 通电话，由 {agents} 名坐席接听。"
    ),
    "summary.finding.quarantine": "{n} 行（{share}）不符合数据约定，已隔离。",
    "summary.finding.agreement": "各模型对谁表现最好的判断{level}一致（肯德尔 W = {w}）。",
    "summary.finding.agreement.high": "高度",
    "summary.finding.agreement.mid": "中等程度",
    "summary.finding.agreement.low": "不太",
    "summary.finding.recommend": "对指标博弈最不敏感的模型：{model}；博弈坐席在其排名中上升最少。",
    "summary.finding.flags": "在错误发现率 {alpha} 下，{n} 个坐席-期间被标记为可能存在指标博弈。",
    "summary.finding.noflags": "在错误发现率 {alpha} 下，没有坐席的指标显示出博弈迹象。",
    "summary.finding.changepoints": "日度比率中发现 {n} 个变点（最早：{first}）。",
    "summary.caveat": "标记只是需要查看通话的理由，并非违规的证据：采取行动前请复核录音并与坐席沟通。",
    "kpi.title": "关键绩效指标（KPI）",
    "kpi.intro": "报告期内中心层面的运营指标。",
    "kpi.calls_offered": "呼入量",
    "kpi.calls_handled": "接听量",
    "kpi.abandon_rate": "放弃率",
    "kpi.aht": "平均处理时长（秒）",
    "kpi.talk": "平均通话时长（秒）",
    "kpi.short_share": "短通话（< {s:.0f} 秒）",
    "kpi.transfer_rate": "转接率",
    "kpi.resolution": "当次解决率",
    "kpi.csat": "满意度（1–5）",
    "kpi.agents": "在岗坐席",
    "kpi.definitions": "指标定义",
    "kpi.model_scores": "KPI 模型下的坐席得分",
    "models.title": "绩效管理模型比较",
    "models.intro": "每种模型把同一组坐席×期间指标转换为得分和排名。排名不一致时，模型的选择决定了谁会得到奖励。",
    "models.agreement": "模型之间的一致性",
    "models.agreement.text": "所有模型的肯德尔 W：{w}。",
    "models.properties": "各模型的特性",
    "models.top": "{model} 下排名最前与最后的坐席",
    "models.not_computable": "无法计算 {model}：{reason}",
    "model.kpi": "关键绩效指标",
    "model.okr": "目标与关键结果",
    "model.bsc": "平衡计分卡",
    "model.360": "360度反馈",
    "okr.title": "目标与关键结果（OKR）",
    "okr.intro": "每个关键结果按 0.0–1.0 评分；0.6–0.7 为预期的理想区间（红 0–0.3，黄 0.4–0.6，绿 0.7–1.0）。",
    "okr.objectives": "目标与关键结果",
    "bsc.title": "平衡计分卡",
    "bsc.intro": "卡普兰与诺顿的四个维度：财务、客户、内部流程、学习与成长。",
    "r360.title": "360度反馈",
    "r360.intro": "按评价者类别汇总的评分。少于 {k} 名评价者的同事与下属组不予显示。",
    "r360.groups": "按评价者类别的评分",
    "gaming.title": "指标博弈检测",
    "gaming.intro": (
        "每项检测把每名坐席的指标与经过校准的原假设比较（同一队列的同事，以及坐席自己的前期表现）；"
        "p 值按检验次数用 Benjamini–Hochberg 错误发现率校正。"
    ),
    "gaming.flags": "被标记的坐席-期间",
    "gaming.byCheck": "各项检测的检验数与标记数",
    "gaming.skipped": "未运行的检测",
    "gaming.changepoints": "变点",
    "gaming.summary": "小结",
    "gaming.truth": "与植入的真实情况对照（合成数据）",
    "gaming.truth.text": "找到的植入博弈者：{tp} / {pos}；被误标的诚实坐席：{fp} / {neg}。",
    "dq.title": "数据与方法",
    "dq.intro": "本报告所依据的数据，以及被隔离的数据。",
    "dq.inputs": "输入",
    "dq.quarantine": "按原因统计的隔离行",
    "dq.quarantine.none": "没有违反数据约定的行。",
    "dq.coverage": "有数据的列",
    "dq.daily": "每日呼入量",
    "dq.software": "软件",
    "dq.pseudonymized": "坐席与客户标识已替换为加盐假名。",
    "dq.acknowledgement": "致谢",
    "dq.acknowledgement.anonymous_bank": (
        "通话记录：Anonymous Bank 呼叫中心数据，以色列理工学院（Technion）服务企业工程（SEE）实验室，"
        "由 Guedj 与 Mandelbaum 收集。依其使用条款，须注明此致谢。"
    ),
    "metric.calls": "接听量",
    "metric.aht_s": "平均处理时长（通话 + 保持 + 话后处理）",
    "metric.talk_s": "平均通话时长",
    "metric.hold_s": "平均保持时长",
    "metric.acw_s": "平均话后处理时长",
    "metric.short_call_rate": "短通话占比",
    "metric.transfer_rate": "转接率",
    "metric.repeat_call_rate": "重复来电率（同一客户再次来电）",
    "metric.repeat_calls_observed": "重复来电窗口完整可观察的通话数",
    "metric.resolved_rate": "标记为已解决的占比",
    "metric.csat_mean": "平均满意度",
    "metric.csat_responses": "调查回复数",
    "metric.qa_mean": "平均质检得分",
    "metric.complaint_rate": "投诉率",
    "metric.agent_hangup_rate": "坐席挂断的通话占比",
    "direction.higher": "越高越好",
    "direction.lower": "越低越好",
    "direction.neutral": "中性",
    "col.direction": "方向",
    "check.bunching_center": "处理时长目标下方的聚集（中心）",
    "check.bunching_agent": "处理时长目标下方的聚集（坐席）",
    "check.changepoints": "变点",
    "check.end_of_day_stretch": "临近下班拖长通话",
    "check.acw_inflation": "话后处理时长虚增",
    "check.hold_inflation": "保持时长虚增",
    "check.okr_sandbagging": "OKR 目标压低",
    "check.reciprocity_360": "360 互评抬分",
    "check.repeat_after_short": "短通话后的重复来电",
    "check.short_calls_peer": "短通话（与同事比较）",
    "check.short_calls_trend": "短通话（与自身历史比较）",
    "check.survey_selection": "满意度调查选择性",
    "check.transfer_dumping": "转接推诿",
    "outcome.answered": "已接听",
    "outcome.abandoned": "已放弃",
    "outcome.transferred": "已转接",
    "rater.self": "自评",
    "rater.supervisor": "主管",
    "rater.peer": "同事",
    "rater.customer": "客户",
    "rater.direct_report": "下属",
    "fig.agreement": "模型之间的排名一致性（肯德尔 tau-b）",
    "fig.scores": "各模型下的坐席得分",
    "fig.gaming_sensitivity": "博弈坐席在各模型排名中的上升幅度",
    "fig.daily": "每日呼入量",
    "fig.flags": "各项检测标记的坐席-期间",
    "fig.aht": "各坐席的处理时长",
    "figlab.agreement.colorbar": "tau-b",
    "figlab.scores.x": "模型",
    "figlab.scores.y": "百分位排名（100 = 最好）",
    "figlab.scores.flagged": "博弈坐席",
    "figlab.scores.other": "其他坐席",
    "figlab.gaming_sensitivity.x": "博弈坐席的平均百分位 − 50",
    "figlab.gaming_sensitivity.y": "模型",
    "figlab.gaming_sensitivity.none": "没有已知的博弈坐席：无可显示内容",
    "deck.title": "呼叫中心绩效：主要发现",
    "deck.findings": "主要发现",
    "deck.agreement": "各模型是否一致？",
    "deck.gaming": "指标博弈迹象",
    "deck.data": "数据",
    "col.agent_id": "坐席",
    "col.period": "期间",
    "col.model": "模型",
    "col.model_a": "模型 A",
    "col.model_b": "模型 B",
    "col.kendall_tau": "肯德尔 tau",
    "col.p_value": "p 值",
    "col.q_value": "q 值（BH）",
    "col.score": "得分",
    "col.rank": "排名",
    "col.check": "检测",
    "col.effect": "效应",
    "col.effect_unit": "单位",
    "col.flagged": "已标记",
    "col.n": "n",
    "col.k": "k",
    "col.detail": "详情",
    "col.tests": "检验数",
    "col.flags": "标记数",
    "col.reason": "原因",
    "col.rows": "行数",
    "col.share": "占比",
    "col.input": "输入",
    "col.file": "文件",
    "col.sha256": "SHA-256",
    "col.rows_read": "读取行数",
    "col.valid": "有效",
    "col.quarantined": "已隔离",
    "col.column": "列",
    "col.non_missing": "非缺失",
    "col.measure": "指标",
    "col.value": "数值",
    "col.package": "软件包",
    "col.version": "版本",
    "col.stability": "稳定性（ICC）",
    "col.validity": "预测效度",
    "col.gaming_sensitivity": "博弈敏感度",
    "col.fairness": "公平性（队列占比）",
    "col.scope": "范围",
    "col.metric": "指标",
    "col.date": "日期",
    "col.before": "之前",
    "col.after": "之后",
    "col.name": "名称",
    "col.definition": "定义",
    "col.unit": "单位",
    "col.rater_group": "评价者类别",
    "col.raters": "评价者数",
    "col.mean_score": "平均分",
    "col.shown": "是否显示",
    "col.objective": "目标",
    "col.key_result": "关键结果",
    "col.baseline": "基线",
    "col.target": "目标值",
    "col.attainment": "达成度",
    "col.grade": "评级",
    "col.perspective": "维度",
    "col.weight": "权重",
    "col.calls": "通话数",
    "col.skipped_reason": "原因",
    "input.calls": "通话记录",
    "input.ratings": "360 评分",
    "input.okr": "OKR 定义",
    "input.roster": "坐席名册",
    "input.config": "模型配置",
    "input.truth": "植入的真实情况（合成）",
    "input.mapping": "列映射",
    "value.yes": "是",
    "value.no": "否",
}

STRINGS: dict[str, dict[str, str]] = {"en": _EN, "zh-CN": _ZH}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is supported, else raise :class:`ConfigError`."""
    if lang not in STRINGS:
        raise ConfigError(f"unknown report language {lang!r} (known: {', '.join(LANGS)})")
    return lang


def t(key: str, lang: str = "en", **fields: object) -> str:
    """The text of ``key`` in ``lang``, with ``str.format`` ``fields`` filled in.

    An unknown key raises ``KeyError`` (a missing translation is a bug, never a silent
    fallback to another language).
    """
    text = STRINGS[check_lang(lang)][key]
    return text.format(**fields) if fields else text


def labels(lang: str = "en", prefix: str | None = None) -> dict[str, str]:
    """All strings of ``lang`` as ``{name: text}``.

    With ``prefix`` (e.g. ``"col"`` or ``"model"``) only keys ``prefix.*`` are returned,
    keyed by the part after the prefix: ``labels("zh-CN", "model")["bsc"] == "平衡计分卡"``.
    Unprefixed, the dict holds column and model labels under their bare names plus every
    full key, which is what the plotting functions' ``labels`` argument expects.
    """
    table = STRINGS[check_lang(lang)]
    if prefix is not None:
        p = prefix + "."
        return {k[len(p) :]: v for k, v in table.items() if k.startswith(p)}
    out = dict(table)
    for pre in ("col", "model", "check"):
        out.update(labels(lang, pre))
    return out


def translate_columns(df, lang: str = "en"):
    """``df`` with its column names replaced by their ``col.*`` labels where one exists."""
    cols = labels(lang, "col")
    return df.rename(columns={c: cols.get(str(c), str(c)) for c in df.columns})
