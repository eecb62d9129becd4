"""Presentation: the results bundle (:mod:`analysis.report.results`) as the report shows it,
in one language: display tables, values formatted with their units, sentences from the
message catalogs, figures. Language enters the report here and nowhere below.

One module per part of the report, named as the notebook templates use them:

- :mod:`.findings` — page 1 (decision, signs of gaming, next steps) and the key findings;
- :mod:`.quality` — the data-quality section and the headline numbers;
- :mod:`.models` — the model comparison: agreement, properties, top and bottom agents;
- :mod:`.choice` — the recommendation, its evidence, the trade-offs and the what-if;
- :mod:`.gaming` — the gaming checks: flags, change points, skipped checks;
- :mod:`.labels` and :mod:`.changes` — names, numbers and change points all of them share.
"""
