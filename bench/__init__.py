"""kanlab benchmarks: ``make bench`` (``python -m bench [NAME ...]``) runs them and prints ratios.

Each ``bench/<name>.py`` defines ``main(argv: list[str]) -> int``. Ratios are always against
floors or peers measured in the same run, never against stored numbers.
"""
