"""Which model the tests mean when they say "the other one": the catalogue's model that is not the
default (tests that re-run a stored job with another model, or read its label on a page)."""
from ml.catalogue import DEFAULT_MODEL, MODELS

OTHER_MODEL = next(name for name in MODELS if name != DEFAULT_MODEL)
