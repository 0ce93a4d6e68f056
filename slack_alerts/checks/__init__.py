"""The checks: pure statistics and detection rules, no I/O and no Prefect.

- ``drift``: feature drift (PSI, KS, Wasserstein, chi-square, Jensen-Shannon)
  and performance drift against a baseline;
- ``fairness``: per-group metrics and the FAVES rules;
- ``security``: rules over a model service's audit log;
- ``sample_data``: the planted sample data of the demo and the tests.

These modules need numpy, pandas and scipy; the notification modules of the
core do not import them.
"""
