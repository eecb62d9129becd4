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
    "check.short_calls_change": "Short calls before a center-wide change",
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
    "check.short_calls_change": "短通话（中心整体变化之前）",
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


# --------------------------------------------------------------------------- model choice
# The recommendation, trade-off and what-if views (analysis.recommend, analysis.tradeoffs,
# analysis.whatif), kept together so the two languages are easy to compare.

_EN.update({
    "summary.finding.recommended": (
        "Recommended model for this center: {model} (best in {p} of bootstrap resamples of "
        "agents)."
    ),
    "summary.finding.recommended_tied": (
        "Recommended model for this center: {model}, but the data cannot tell it apart from "
        "{others}."
    ),
    "summary.finding.whatif.same": (
        "Without the {n} calls the gaming checks flagged, the recommendation stays {model}."
    ),
    "summary.finding.whatif.changed": (
        "Without the {n} calls the gaming checks flagged, the recommendation changes from "
        "{before} to {after}."
    ),
    "summary.finding.whatif.changed_tied": (
        "Without the {n} calls the gaming checks flagged, the top place moves from {before} "
        "to {after}, two models the data cannot tell apart."
    ),
    "model.kpi_okr": "KPI floor + OKR",
    "model.bsc_360": "Balanced scorecard + 360",
    "model.center": "Center (all agents)",
    # recommendation
    "rec.title": "Which model suits this center",
    "rec.lead": (
        "Recommended for this center: **{model}**, overall score {overall} ({ci} interval "
        "{lo}–{hi}), best in {p} of {n_boot} bootstrap resamples of agents."
    ),
    "rec.lead.plain": "Recommended for this center: **{model}**, overall score {overall}.",
    "rec.tied": (
        "The data cannot tell {a} apart from {b} (difference {d}, {ci} interval {lo} to {hi}): "
        "on this data they are equally good choices."
    ),
    "rec.ahead": "{model} is ahead of every other model beyond the uncertainty.",
    "rec.none": "No model could be scored on this data, so there is no recommendation.",
    "rec.weights": (
        "The overall score is the weighted mean of the criteria, each on a 0–1 scale "
        "(1 = best). Weights used: {weights}. They are set under `recommendation.weights` in "
        "the model configuration."
    ),
    "rec.not_assessed": (
        "Not assessed on this data, their weight shared among the other criteria: {items}."
    ),
    "rec.not_assessed.item": "{criterion} ({why})",
    "rec.na.stability": "needs at least two periods with at least three agents in each",
    "rec.na.validity": "needs two periods and outcome metrics",
    "rec.na.gaming": "no agent is flagged or known to game",
    "rec.na.fairness": "no queue or shift column with at least two groups",
    "rec.na.separation": "needs agents scored in at least two periods",
    "rec.na.partial": "not assessable for every model: {models}",
    "rec.not_computable": "not computable: {reason}",
    "rec.reason.no_ratings": "no 360 ratings were given",
    "rec.missing": "missing data: {inputs}",
    "rec.indistinguishable": "Pairs of models the data cannot tell apart: {pairs}.",
    "rec.all_distinguishable": "The data tells every pair of models apart.",
    "rec.evidence.title": "Evidence behind the recommendation",
    "rec.evidence.intro": (
        "Each criterion's score on a 0–1 scale (1 = best) with its {ci} bootstrap interval over "
        "agents ({n_boot} resamples; the same agents for every model in a resample). The "
        "weight is the criterion's share of the overall score."
    ),
    "rec.criteria": "What the criteria measure",
    "rec.pairwise": "Differences in overall score between models",
    "rec.not_assessed_cell": "not assessed",
    "crit.stability": "Stability",
    "crit.validity": "Predictive validity",
    "crit.gaming": "Resistance to gaming",
    "crit.fairness": "Fairness",
    "crit.separation": "Separation",
    "crit.data": "Data coverage",
    "crit.overall": "Overall score",
    "crit.stability.def": (
        "the same agents score alike from period to period (intraclass correlation ICC(C,1))"
    ),
    "crit.validity.def": (
        "a period's score predicts the next period's outcomes: repeat calls, resolution, "
        "satisfaction (Spearman correlation)"
    ),
    "crit.gaming.def": (
        "agents flagged for gaming do not rise in the ranking (1 = no rise; 0 = a rise of "
        "50 percentile points or more)"
    ),
    "crit.fairness.def": (
        "the score does not depend on the agent's queue or shift (1 minus the largest partial "
        "eta-squared)"
    ),
    "crit.separation.def": (
        "share of agent pairs whose 95% score intervals over periods do not overlap: how many "
        "agents the model tells apart"
    ),
    "crit.data.def": "share of the model's weight whose data the center has",
    # trade-offs
    "trade.title": "The trade-offs a center lives by",
    "trade.intro": (
        "Each agent counts once (metrics pooled over periods, rates weighted by calls). "
        "Quadrants split agents at the center's medians. ρ is Spearman's correlation, signed "
        "so that a positive value means agents who are better on one measure are also better "
        "on the other, and a negative value that the two trade off; the interval is 95%."
    ),
    "trade.na": "Not available because {why}.",
    "trade.na.eff": "the calls carry no resolution, repeat-call or satisfaction data",
    "trade.na.aht": "the calls carry no handle times",
    "trade.na.csat": "the calls carry no customer-satisfaction scores",
    "trade.na.people": "neither 360 ratings nor a roster with hire dates was given",
    "trade.na.qa": "the calls carry no quality-assessment (QA) scores",
    "trade.na.models": "no model could be scored",
    "trade.na.few": "fewer than four agents have both measures",
    "trade.eff.title": "Efficiency against quality",
    "trade.eff.intro": (
        "Handle time against resolution, repeat calls and satisfaction, per agent. Fast "
        "agents with poorer quality (orange) are where hang-ups and rushing show."
    ),
    "trade.svc.title": "Service level against cost",
    "trade.svc.intro": (
        "At the busiest hour in the data ({day} {hour}:00, {cph} calls an hour on average), "
        "answering {sl} of calls within {s} s needs {n} agents at the center's handle time of "
        "{aht} s (Erlang C). Each row shows what the center would need if every agent worked "
        "at the handle time of the agents a model rewards (its top quarter), and the service "
        "level and mean wait the center's own staffing would then give."
    ),
    "trade.svc.note": (
        "A shorter handle time is cheaper only if quality holds: read this with efficiency "
        "against quality."
    ),
    "trade.sat.title": "Customer satisfaction against 360 and staff stability",
    "trade.sat.intro": (
        "Agents' mean customer satisfaction against their own 360 score and their tenure "
        "(from the roster)."
    ),
    "trade.sat.left": (
        "{k} of {n} agents had left by {date}; their customers' mean satisfaction was {a}, "
        "against {b} for the agents who stayed."
    ),
    "trade.proc.title": "Results against process",
    "trade.proc.intro": (
        "Outcome metrics against the QA score (how closely calls follow the process), per "
        "agent. Process without results (orange) and results without process (blue) are the "
        "agents to look at."
    ),
    "trade.reading.together": "go together",
    "trade.reading.tradeoff": "trade off",
    "trade.reading.unclear": "no clear relation",
    "quad.eff.both": "Fast and good",
    "quad.eff.x_only": "Fast, poorer quality",
    "quad.eff.y_only": "Slow, good quality",
    "quad.eff.neither": "Slow, poorer quality",
    "quad.proc.both": "Process and results",
    "quad.proc.x_only": "Process only",
    "quad.proc.y_only": "Results only",
    "quad.proc.neither": "Neither",
    "quad.sat.both": "Better on both",
    "quad.sat.x_only": "Satisfaction only",
    "quad.sat.y_only": "Other measure only",
    "quad.sat.neither": "Neither",
    "axis.aht_s": "Handle time (s)",
    "axis.resolved_rate": "Resolved on the call (share)",
    "axis.repeat_call_rate": "Repeat-call rate",
    "axis.csat_mean": "Customer satisfaction (1–5)",
    "axis.qa_mean": "QA score",
    "axis.score_360": "Own 360 score",
    "axis.tenure_days": "Tenure (days)",
    "dow.1": "Monday",
    "dow.2": "Tuesday",
    "dow.3": "Wednesday",
    "dow.4": "Thursday",
    "dow.5": "Friday",
    "dow.6": "Saturday",
    "dow.7": "Sunday",
    # what-if
    "whatif.title": "What-if: without the calls flagged for gaming",
    "whatif.intro": (
        "The same agents scored again after removing, for each agent-period a gaming check "
        "flagged, the calls that carry that kind of gaming; the models are then compared and "
        "the recommendation made again (resistance to gaming is kept as measured on all "
        "calls). Removing calls is not the same as honest work, since the hung-up customers "
        "would have been served, probably at a longer handle time: read this as a check of "
        "how much the choice of model depends on the gamed calls."
    ),
    "whatif.removed": "Removed {n} calls of {agents} flagged agents ({share} of handled calls).",
    "whatif.na.flags": "the gaming checks flagged no agent",
    "whatif.na.removable": "no flagged check names calls to remove",
    "whatif.na.gaming": "the gaming checks did not run",
    "whatif.stays": "The recommendation stays **{model}**.",
    "whatif.changes": "The recommendation changes from **{before}** to **{after}**.",
    "whatif.changes_tied": (
        "The top place moves from **{before}** to **{after}**, two models the data could not "
        "tell apart on all calls either."
    ),
    "whatif.by_check": "Calls removed, by check",
    "whatif.skipped": "Flagged checks for which nothing is removed",
    "whatif.models": "Each model before and after",
    "whatif.models.note": (
        "Gaming agents' percentile: the mean within-period percentile (100 = best), in the "
        "model's ranking, of the agents known to game (the planted ones in synthetic data) "
        "or, without that knowledge, of those the gaming checks flagged. τ: Kendall's tau "
        "between the agents' ranking before and after (1 = unchanged)."
    ),
    "whatif.rule.short": "handled calls shorter than the short-call threshold",
    "whatif.rule.bunching": "handled calls whose handle time falls just below the target",
    "whatif.rule.transfer": "transferred calls",
    "whatif.rule.end_of_day": "calls answered in the agent's last hour of the day",
    "whatif.skip.acw_inflation": "padding lengthens every call; no subset of calls to remove",
    "whatif.skip.hold_inflation": "padding lengthens every call; no subset of calls to remove",
    "whatif.skip.survey_selection": "acts on which calls get surveyed, not on the calls",
    "whatif.skip.okr_sandbagging": "acts on OKR targets, not on calls",
    "whatif.skip.reciprocity_360": "acts on 360 ratings, not on calls",
    "whatif.skip.changepoints": "describes when behaviour changed; removes nothing",
    "whatif.skip.bunching_center": "a center-level excess names no agent",
    # figures
    "fig.recommendation": "The models ranked for this center: overall score and criteria",
    "fig.tradeoff_efficiency": "Handle time against quality, per agent",
    "fig.tradeoff_service": "Agents needed at the handle time each model rewards",
    "fig.tradeoff_satisfaction": "Customer satisfaction against own 360 score and tenure",
    "fig.tradeoff_process": "Outcomes against the QA score, per agent",
    "fig.whatif": "Overall score before and after removing the flagged calls",
    "figlab.recommendation.overall": "overall score (1 = best), with interval",
    "figlab.recommendation.criteria": "criterion score (1 = best)",
    "figlab.recommendation.p_best": "best in {p:.0%}",
    "figlab.recommendation.not_computable": "not computable",
    "figlab.tradeoff_service.x": "agents needed (Erlang C)",
    "figlab.tradeoff_service.y": "",
    "figlab.tradeoff_service.sl": "AHT {aht:.0f} s, service level {sl:.0%}",
    "figlab.whatif.before": "all calls",
    "figlab.whatif.after": "flagged calls removed",
    "figlab.whatif.y": "overall score",
    "figlab.quadrants.flagged": "gaming (known or flagged)",
    "figlab.quadrants.none": "no data for this view",
    # table headers
    "col.overall": "Overall",
    "col.interval": "Interval",
    "col.p_best": "P(best)",
    "col.tied_with_best": "Tied with the top",
    "col.strongest": "Strongest",
    "col.weakest": "Weakest",
    "col.note": "Note",
    "col.criterion": "Criterion",
    "col.measures": "What it measures",
    "col.diff": "Difference",
    "col.p_a_better": "P(A better)",
    "col.distinguishable": "Told apart",
    "col.against": "Against",
    "col.agents": "Agents",
    "col.rho": "ρ",
    "col.reading": "Reading",
    "col.agents_rewarded": "Agents rewarded",
    "col.aht_s": "AHT (s)",
    "col.agents_needed": "Agents needed",
    "col.agents_vs_center": "vs center",
    "col.service_level": "Service level",
    "col.asa_s": "Mean wait (s)",
    "col.occupancy": "Occupancy",
    "col.what": "What is removed",
    "col.agent_periods": "Agent-periods",
    "col.calls_removed": "Calls removed",
    "col.n_flags": "Flags",
    "col.overall_before": "Overall before",
    "col.overall_after": "Overall after",
    "col.rank_before": "Rank before",
    "col.rank_after": "Rank after",
    "col.flagged_pct_before": "Gaming agents' percentile before",
    "col.flagged_pct_after": "Gaming agents' percentile after",
    "col.kendall_tau_agents": "τ (agents)",
})

_ZH.update({
    "summary.finding.recommended": "本中心推荐的模型：{model}（在 {p} 的坐席自助重抽样中排名第一）。",
    "summary.finding.recommended_tied": "本中心推荐的模型：{model}，但数据无法把它与 {others} 区分开。",
    "summary.finding.whatif.same": "去掉指标博弈检测标记的 {n} 通电话后，推荐仍为 {model}。",
    "summary.finding.whatif.changed": "去掉指标博弈检测标记的 {n} 通电话后，推荐由 {before} 变为 {after}。",
    "summary.finding.whatif.changed_tied": (
        "去掉指标博弈检测标记的 {n} 通电话后，第一名由 {before} 变为 {after}；数据无法区分这两个模型。"
    ),
    "model.kpi_okr": "KPI 底线 + OKR",
    "model.bsc_360": "平衡计分卡 + 360",
    "model.center": "全中心（所有坐席）",
    "rec.title": "哪种模型适合本中心",
    "rec.lead": (
        "本中心推荐的模型：**{model}**，综合得分 {overall}（{ci} 区间 {lo}–{hi}），"
        "在 {n_boot} 次坐席自助重抽样中有 {p} 排名第一。"
    ),
    "rec.lead.plain": "本中心推荐的模型：**{model}**，综合得分 {overall}。",
    "rec.tied": (
        "数据无法区分{a}与{b}（差值 {d}，{ci} 区间 {lo} 至 {hi}）：就这些数据而言，二者同样可取。"
    ),
    "rec.ahead": "{model} 在考虑不确定性之后仍领先于其他所有模型。",
    "rec.none": "没有模型能在这些数据上计分，因此无法给出推荐。",
    "rec.weights": (
        "综合得分是各项标准的加权平均，每项标准取 0–1 分（1 = 最好）。所用权重：{weights}。"
        "权重在模型配置的 `recommendation.weights` 中设置。"
    ),
    "rec.not_assessed": "在这些数据上未评估（其权重分配给其他标准）：{items}。",
    "rec.not_assessed.item": "{criterion}（{why}）",
    "rec.na.stability": "需要至少两个期间、且每个期间至少三名坐席",
    "rec.na.validity": "需要两个期间和结果指标",
    "rec.na.gaming": "没有坐席被标记或已知存在指标博弈",
    "rec.na.fairness": "没有至少包含两组的队列或班次列",
    "rec.na.separation": "需要坐席在至少两个期间有得分",
    "rec.na.partial": "无法对每个模型评估：{models}",
    "rec.not_computable": "无法计算：{reason}",
    "rec.reason.no_ratings": "未提供 360 评分",
    "rec.missing": "缺少数据：{inputs}",
    "rec.indistinguishable": "数据无法区分的模型对：{pairs}。",
    "rec.all_distinguishable": "数据能区分每一对模型。",
    "rec.evidence.title": "推荐的依据",
    "rec.evidence.intro": (
        "每项标准的 0–1 分（1 = 最好）及其对坐席的 {ci} 自助法区间（{n_boot} 次重抽样；"
        "同一次重抽样中所有模型使用相同的坐席）。权重是该标准在综合得分中的占比。"
    ),
    "rec.criteria": "各项标准衡量什么",
    "rec.pairwise": "模型之间综合得分的差值",
    "rec.not_assessed_cell": "未评估",
    "crit.stability": "稳定性",
    "crit.validity": "预测效度",
    "crit.gaming": "抗博弈性",
    "crit.fairness": "公平性",
    "crit.separation": "区分度",
    "crit.data": "数据完备度",
    "crit.overall": "综合得分",
    "crit.stability.def": "同一坐席在各期间得分相近（组内相关系数 ICC(C,1)）",
    "crit.validity.def": "本期得分能预测下一期的结果：重复来电、解决率、满意度（斯皮尔曼相关）",
    "crit.gaming.def": "被标记为博弈的坐席在排名中不上升（1 = 不上升；0 = 上升 50 个百分位或更多）",
    "crit.fairness.def": "得分不取决于坐席所在的队列或班次（1 减去最大的偏 eta 平方）",
    "crit.separation.def": "各期间 95% 得分区间互不重叠的坐席对占比：模型能区分多少坐席",
    "crit.data.def": "模型权重中本中心具备数据的部分所占比例",
    "trade.title": "呼叫中心面对的权衡",
    "trade.intro": (
        "每名坐席只计一次（指标按期间汇总，比率按通话数加权）。象限以全中心的中位数划分。"
        "ρ 为斯皮尔曼相关，取正值表示在一项指标上更好的坐席在另一项上也更好，取负值表示二者此消彼长；"
        "区间为 95%。"
    ),
    "trade.na": "不可用，因为{why}。",
    "trade.na.eff": "通话数据中没有解决、重复来电或满意度信息",
    "trade.na.aht": "通话数据中没有处理时长",
    "trade.na.csat": "通话数据中没有客户满意度评分",
    "trade.na.people": "既未提供 360 评分，也未提供含入职日期的坐席名册",
    "trade.na.qa": "通话数据中没有质检（QA）评分",
    "trade.na.models": "没有模型能够计分",
    "trade.na.few": "同时具备两项指标的坐席少于四名",
    "trade.eff.title": "效率与质量",
    "trade.eff.intro": "每名坐席的处理时长与解决率、重复来电和满意度的对比。快但质量较差的坐席（橙色）是挂断和赶时间的问题所在。",
    "trade.svc.title": "服务水平与成本",
    "trade.svc.intro": (
        "在数据中最繁忙的时段（{day} {hour}:00，平均每小时 {cph} 通电话），按全中心 {aht} 秒的处理时长，"
        "要在 {s} 秒内接起 {sl} 的来电需要 {n} 名坐席（Erlang C）。每一行表示：如果所有坐席都以某模型所奖励的坐席"
        "（其前四分之一）的处理时长工作，中心需要多少坐席，以及按中心现有配置可达到的服务水平和平均等待时间。"
    ),
    "trade.svc.note": "只有在质量不下降时，更短的处理时长才更省钱：请结合“效率与质量”一起阅读。",
    "trade.sat.title": "客户满意度与 360 及人员稳定性",
    "trade.sat.intro": "每名坐席的平均客户满意度与其本人的 360 得分和在职时长（来自坐席名册）的对比。",
    "trade.sat.left": "截至 {date}，{n} 名坐席中有 {k} 名已离职；他们的客户平均满意度为 {a}，留任坐席为 {b}。",
    "trade.proc.title": "结果与过程",
    "trade.proc.intro": (
        "每名坐席的结果指标与质检得分（通话遵循流程的程度）的对比。只有过程没有结果（橙色）"
        "和只有结果没有过程（蓝色）的坐席值得关注。"
    ),
    "trade.reading.together": "同向",
    "trade.reading.tradeoff": "此消彼长",
    "trade.reading.unclear": "关系不明确",
    "quad.eff.both": "快且好",
    "quad.eff.x_only": "快但质量较差",
    "quad.eff.y_only": "慢但质量好",
    "quad.eff.neither": "慢且质量较差",
    "quad.proc.both": "过程与结果兼备",
    "quad.proc.x_only": "只有过程",
    "quad.proc.y_only": "只有结果",
    "quad.proc.neither": "两者皆无",
    "quad.sat.both": "两者都更好",
    "quad.sat.x_only": "仅满意度更好",
    "quad.sat.y_only": "仅另一指标更好",
    "quad.sat.neither": "两者皆否",
    "axis.aht_s": "处理时长（秒）",
    "axis.resolved_rate": "当次解决率",
    "axis.repeat_call_rate": "重复来电率",
    "axis.csat_mean": "客户满意度（1–5）",
    "axis.qa_mean": "质检得分",
    "axis.score_360": "本人 360 得分",
    "axis.tenure_days": "在职时长（天）",
    "dow.1": "周一",
    "dow.2": "周二",
    "dow.3": "周三",
    "dow.4": "周四",
    "dow.5": "周五",
    "dow.6": "周六",
    "dow.7": "周日",
    "whatif.title": "假设分析：去掉被标记为博弈的通话",
    "whatif.intro": (
        "对每个被博弈检测标记的坐席-期间，去掉带有该类博弈的通话后，对同一批坐席重新计分，"
        "再比较各模型并重新给出推荐（抗博弈性沿用全部通话上的测量）。去掉通话并不等于诚实工作："
        "被挂断的客户本应得到服务，处理时长可能更长。请把它看作检验模型选择在多大程度上取决于被博弈的通话。"
    ),
    "whatif.removed": "去掉了 {agents} 名被标记坐席的 {n} 通电话（占已处理通话的 {share}）。",
    "whatif.na.flags": "指标博弈检测没有标记任何坐席",
    "whatif.na.removable": "被标记的检测都没有可去掉的通话",
    "whatif.na.gaming": "指标博弈检测没有运行",
    "whatif.stays": "推荐仍为 **{model}**。",
    "whatif.changes": "推荐由 **{before}** 变为 **{after}**。",
    "whatif.changes_tied": (
        "第一名由 **{before}** 变为 **{after}**；在全部通话上数据本来也无法区分这两个模型。"
    ),
    "whatif.by_check": "按检测统计去掉的通话",
    "whatif.skipped": "未去掉任何通话的被标记检测",
    "whatif.models": "各模型前后对比",
    "whatif.models.note": (
        "博弈坐席的百分位：已知存在博弈的坐席（合成数据中为植入的博弈者）在该模型排名中各期间百分位的平均值"
        "（100 = 最好）；若无此信息，则为被博弈检测标记的坐席。τ：前后坐席排名之间的肯德尔 tau（1 = 不变）。"
    ),
    "whatif.rule.short": "短于短通话阈值的已处理通话",
    "whatif.rule.bunching": "处理时长刚好低于目标值的已处理通话",
    "whatif.rule.transfer": "被转接的通话",
    "whatif.rule.end_of_day": "坐席当天最后一小时内接起的通话",
    "whatif.skip.acw_inflation": "拖长会延长每一通电话，没有可去掉的通话子集",
    "whatif.skip.hold_inflation": "拖长会延长每一通电话，没有可去掉的通话子集",
    "whatif.skip.survey_selection": "作用于哪些通话接受调查，而不是通话本身",
    "whatif.skip.okr_sandbagging": "作用于 OKR 目标，而不是通话",
    "whatif.skip.reciprocity_360": "作用于 360 评分，而不是通话",
    "whatif.skip.changepoints": "描述行为何时变化，不去掉任何通话",
    "whatif.skip.bunching_center": "中心层面的异常不指向具体坐席",
    "fig.recommendation": "本中心的模型排名：综合得分与各项标准",
    "fig.tradeoff_efficiency": "每名坐席的处理时长与质量",
    "fig.tradeoff_service": "按各模型所奖励的处理时长所需的坐席人数",
    "fig.tradeoff_satisfaction": "客户满意度与本人 360 得分及在职时长",
    "fig.tradeoff_process": "每名坐席的结果指标与质检得分",
    "fig.whatif": "去掉被标记通话前后的综合得分",
    "figlab.recommendation.overall": "综合得分（1 = 最好）及区间",
    "figlab.recommendation.criteria": "标准得分（1 = 最好）",
    "figlab.recommendation.p_best": "第一的概率 {p:.0%}",
    "figlab.recommendation.not_computable": "无法计算",
    "figlab.tradeoff_service.x": "所需坐席人数（Erlang C）",
    "figlab.tradeoff_service.y": "",
    "figlab.tradeoff_service.sl": "处理时长 {aht:.0f} 秒，服务水平 {sl:.0%}",
    "figlab.whatif.before": "全部通话",
    "figlab.whatif.after": "去掉被标记通话",
    "figlab.whatif.y": "综合得分",
    "figlab.quadrants.flagged": "博弈（已知或被标记）",
    "figlab.quadrants.none": "此视图没有数据",
    "col.overall": "综合得分",
    "col.interval": "区间",
    "col.p_best": "第一的概率",
    "col.tied_with_best": "与第一无法区分",
    "col.strongest": "最强项",
    "col.weakest": "最弱项",
    "col.note": "说明",
    "col.criterion": "标准",
    "col.measures": "衡量内容",
    "col.diff": "差值",
    "col.p_a_better": "A 更好的概率",
    "col.distinguishable": "可区分",
    "col.against": "对比指标",
    "col.agents": "坐席数",
    "col.rho": "ρ",
    "col.reading": "解读",
    "col.agents_rewarded": "受奖励坐席",
    "col.aht_s": "处理时长（秒）",
    "col.agents_needed": "所需坐席",
    "col.agents_vs_center": "相对全中心",
    "col.service_level": "服务水平",
    "col.asa_s": "平均等待（秒）",
    "col.occupancy": "占用率",
    "col.what": "去掉哪些通话",
    "col.agent_periods": "坐席-期间",
    "col.calls_removed": "去掉的通话数",
    "col.n_flags": "标记数",
    "col.overall_before": "之前综合得分",
    "col.overall_after": "之后综合得分",
    "col.rank_before": "之前排名",
    "col.rank_after": "之后排名",
    "col.flagged_pct_before": "博弈坐席之前百分位",
    "col.flagged_pct_after": "博弈坐席之后百分位",
    "col.kendall_tau_agents": "τ（坐席）",
})

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
