"""lesionviewer.risk: the whole-volume lung-cancer risk model (data, networks, training, model file, CLI).

Its public names live in its modules (``risk.model.RiskModel``, ``risk.config.RiskConfig``,
``risk.cli.main`` ...); importing the package itself loads nothing (torch stays unimported).

Example:
    >>> import lesionviewer.risk
    >>> lesionviewer.risk.__all__
    []
"""

__all__: list[str] = []
