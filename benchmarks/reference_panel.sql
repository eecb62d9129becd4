-- Hand-written DuckDB reference for `ccpm panel` (month periods), used by bench_panel.py.
--
-- Same measures as analysis.panel.build_panel: one row per agent and calendar month of
-- answer_ts over handled calls (outcome answered/transferred, agent, answer time and
-- talk time present, no negative duration), with the repeat-call flag: the same customer
-- calls again (any outcome) within {window_h} hours of the answer; calls whose window
-- ends after the last arrival in the data are censored; NULL without customer_id.
-- Placeholders: {calls} (quoted Parquet path), {short_call_s}, {window_h}.
-- queue_counts is a MAP queue -> handled calls (queue mix and main queue are derived
-- from it).
WITH seq AS (
    SELECT agent_id, queue, outcome, answer_ts, talk_s,
           COALESCE(hold_s, 0) AS hold_s, COALESCE(acw_s, 0) AS acw_s,
           customer_id, ended_by, resolved, csat, qa_score, complaint,
           LEAD(arrival_ts) OVER (PARTITION BY customer_id
                                  ORDER BY arrival_ts, call_id) AS next_arrival_ts
    FROM read_parquet({calls})
),
h AS (
    SELECT *,
           CASE WHEN customer_id IS NULL THEN NULL
                WHEN answer_ts + INTERVAL {window_h} HOUR
                     > (SELECT max(arrival_ts) FROM read_parquet({calls})) THEN NULL
                WHEN next_arrival_ts <= answer_ts + INTERVAL {window_h} HOUR THEN 1.0
                ELSE 0.0 END AS rep
    FROM seq
    WHERE outcome IN ('answered', 'transferred') AND agent_id IS NOT NULL
      AND answer_ts IS NOT NULL AND talk_s >= 0 AND hold_s >= 0 AND acw_s >= 0
)
SELECT agent_id,
       strftime(answer_ts, '%Y-%m') AS period,
       count(*) AS calls,
       avg(talk_s + hold_s + acw_s) AS aht_s,
       avg(talk_s) AS talk_s,
       avg(hold_s) AS hold_s,
       avg(acw_s) AS acw_s,
       avg(CASE WHEN talk_s < {short_call_s} THEN 1.0 ELSE 0.0 END) AS short_call_rate,
       avg(CASE WHEN outcome = 'transferred' THEN 1.0 ELSE 0.0 END) AS transfer_rate,
       avg(rep) AS repeat_call_rate,
       count(rep) AS repeat_calls_observed,
       avg(resolved::DOUBLE) AS resolved_rate,
       avg(csat) AS csat_mean,
       count(csat) AS csat_responses,
       avg(qa_score) AS qa_mean,
       avg(complaint::DOUBLE) AS complaint_rate,
       avg(CASE WHEN ended_by = 'agent' THEN 1.0 WHEN ended_by IS NOT NULL THEN 0.0 END)
           AS agent_hangup_rate,
       histogram(queue) AS queue_counts
FROM h
GROUP BY ALL
ORDER BY agent_id, period
