"""Errors a user can cause, each with a one-line message that names the problem."""


class DevscoreError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""


class Interrupted(DevscoreError):
    """The user stopped the work (Ctrl-C); what was finished is kept, and the CLI says how to go on."""
