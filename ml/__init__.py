"""Backdrop's machine-learning layer: models, data, training, evaluation and inference.

The web app imports from here and never reimplements any of it.
"""
