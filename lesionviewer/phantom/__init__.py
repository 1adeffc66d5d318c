"""lesionviewer.phantom"""
