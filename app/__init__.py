"""LesionViewer's desktop GUI (PySide6 + pyqtgraph), installed as ``lesionviewer_app``.

A thin layer over the headless ``lesionviewer`` library: widgets show library state and turn
clicks into library calls.
"""
