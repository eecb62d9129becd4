"""Execution engines for the metric panel besides the built-in DuckDB one.

The metric SQL lives once in :mod:`analysis.metrics`; :func:`analysis.panel.panel_sql`
renders it for an engine (the few engine-specific expressions sit side by side in
``analysis.panel._ENGINE_SQL``). :mod:`analysis.engines.spark` runs it on Apache Spark.
"""

__all__: list[str] = []
