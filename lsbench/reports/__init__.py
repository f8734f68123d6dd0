"""Reports rebuilt from run directories: Tables 2-4 beside published numbers, figures, one HTML page.

Entry point: :func:`lsbench.reports.build.build_report` (``lsbench report RUN_DIR``). Modules:
``tables`` (the tables), ``published`` (``baselines/published.toml``), ``render`` (Markdown, CSV,
LaTeX, HTML), ``figures`` (matplotlib), ``html`` (the one-page report).
"""
