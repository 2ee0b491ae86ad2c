"""Exceptions of the data mover: each carries a message meant for the person running the backup."""

from __future__ import annotations


class DataMoverError(Exception):
    """Base of every error the data mover reports; ``str(exc)`` is the user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RepositoryError(DataMoverError):
    """The repository is missing, malformed or cannot be written."""


class RepositoryExistsError(RepositoryError):
    """A repository was to be created where one exists (made meanwhile by another writer, or asked twice)."""


class FormatVersionError(RepositoryError):
    """The repository was written by a newer (or unknown) format version."""


class LockedError(RepositoryError):
    """Another process holds a conflicting repository lock."""


class PassphraseError(DataMoverError):
    """The passphrase is missing or does not unlock the repository key."""


class CorruptionError(DataMoverError):
    """Stored bytes fail their checksum, authentication or structure checks."""


class SourceUnavailableError(DataMoverError):
    """A backup source is missing or unreadable."""


class DependencyError(DataMoverError):
    """A Python library the data mover needs (zstandard, blake3, cryptography) is not installed."""


class WriterClosedError(RepositoryError):
    """A writer was used after it failed or was closed."""
