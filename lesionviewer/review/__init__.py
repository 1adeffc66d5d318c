"""lesionviewer.review"""
