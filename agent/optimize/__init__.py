"""``python bot.py optimize``: many backtests of one tick file with different parameters.

Modules: ``grid`` (the ``--grid`` values and each combination's settings, validated by the
config loader), ``runner`` (the worker processes, progress), ``search`` (the grid and optuna
searches), ``split`` (``--split``: in-sample and out-of-sample days), ``metrics`` (a run's
figures, from ``agent.journal_stats``; the ranking), ``output`` (table, JSON, heatmap) and
``command`` (the command line).
"""
