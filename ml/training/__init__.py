"""The training side: Keras model builders, losses, batches, the training loop, export to LiteRT and
model cards. Everything under here may import Keras (and TensorFlow or JAX behind it); nothing
outside it does, so the app, the CLIs that serve and the evaluation of LiteRT files never load it.
``tests/ml/test_registry.py`` checks that boundary by importing every serving module.
"""
