"""The two ways an experiment can end other than with its checks: it broke, or it was skipped."""


class LabError(Exception):
    """An experiment could not do what it set out to do (a command failed, a process hung)."""


class LabSkipped(Exception):
    """The machine lacks what the experiment needs: it is reported as skipped, never as passed."""
