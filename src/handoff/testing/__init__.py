"""Fakes shipped with the package for tests, eval and notebooks (clock, SMTP sink, HTTP receiver)."""
