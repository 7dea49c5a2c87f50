"""personatune: a small local model that answers as one person, built from their own material."""

__version__ = "0.1.0"
