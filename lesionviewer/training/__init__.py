"""lesionviewer.training"""
