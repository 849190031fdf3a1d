"""The experiments of the repository: ``make demo``, the reproduction and their reports.

They import mmdld and are never imported by it. The scripts in ``tools/`` import them as
``experiments`` (a script's own folder is on ``sys.path``).
"""
