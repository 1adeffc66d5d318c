"""lesionviewer.risk"""
