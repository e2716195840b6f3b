"""Data sets and independent plain-NumPy reference implementations of learning algorithms."""
