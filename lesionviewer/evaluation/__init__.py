"""lesionviewer.evaluation"""
