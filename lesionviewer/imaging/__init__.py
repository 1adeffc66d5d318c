"""lesionviewer.imaging"""
