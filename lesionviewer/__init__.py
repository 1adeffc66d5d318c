"""LesionViewer's headless library: CT loading, preprocessing, detection, training and review.

Nothing in this package imports Qt, so the trainer and the batch detector run on a
GPU server without a display. The desktop GUI lives in ``lesionviewer_app``.

Example:
    >>> import lesionviewer
    >>> lesionviewer.__version__
    '0.1.0'
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
