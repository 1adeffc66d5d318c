"""lesionviewer.training: training, evaluating and exporting the lesion detectors (``lesionviewer-train``).

Its public names live in its modules (``training.config.TrainingConfig``, ``training.runner.train``,
``training.export.export_run`` ...); importing the package itself loads nothing (torch stays unimported).

Example:
    >>> import lesionviewer.training
    >>> lesionviewer.training.__all__
    []
"""

__all__: list[str] = []
