"""Package discovery that pyproject.toml cannot express on its own.

The GUI lives in the top-level folder ``app/`` but is installed under the import
name ``lesionviewer_app`` so that it never collides with another project's
``app`` module in site-packages.
"""
from setuptools import find_packages, setup

library = find_packages(include=["lesionviewer", "lesionviewer.*"])
gui = ["lesionviewer_app" + name[len("app"):] for name in find_packages(include=["app", "app.*"])]

setup(packages=library + gui, package_dir={"lesionviewer_app": "app"})
