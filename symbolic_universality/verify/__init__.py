"""Checkers: exact step checker, certificates (and the symbolic and numeric backends)."""
