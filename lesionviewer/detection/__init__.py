"""Lesion detection: the MP3D FPN family of networks, model files, and the inference engine.

Example:
    >>> from lesionviewer.detection.finding import Finding
    >>> Finding(0, (0, 0, 1, 1), 0.5, "m").score
    0.5
"""
