"""Checks, a student command and an instructor command for the course's graded exercises."""

__version__ = "0.1.0"
