"""Errors users see, each mapped to the exit code the CLI returns."""

from __future__ import annotations


class SlaBridgeError(Exception):
    """Base of every error sla-bridge reports to a person."""

    exit_code = 1


class ConfigError(SlaBridgeError):
    """The configuration is unusable: nothing runs (exit code 2)."""

    exit_code = 2


class InputError(SlaBridgeError):
    """A file given on the command line is malformed (exit code 2)."""

    exit_code = 2
