"""Reusable Textual widgets. They render the records they are given (app.engine.records) and
never touch git or agents.

Import from the submodules (`from widgets.diff_view import DiffView`); this package does
not import them eagerly, so using one widget does not pull in plotext.
"""

__all__ = ["ActivityLog", "DiffView", "ExperimentTable", "MetricChart", "StatusLine",
           "WorkersStrip"]
