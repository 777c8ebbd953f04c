"""Storage errors. `storage` imports nothing from the project, so these do not subclass
actors.errors; they map onto its roots like this:

- StorageError (and StorageNotFoundError): permanent, like FatalError. Retrying the same call
  fails the same way (missing bucket or key, access denied, bad URI, local permission error).
- StorageTransientError: like RetryableError. Raised only after our own retries (and botocore's)
  are exhausted: connection errors, 5xx, throttling. A caller may try again later.

Every error names the URI it was about, so a log line is enough to find the object.
"""
from __future__ import annotations


class StorageError(Exception):
    """A storage call failed permanently; `uri` names the object or prefix."""

    retryable = False

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri
        self.message = message

    def __reduce__(self) -> tuple:
        # Rebuild from (uri, message): Ray pickles exceptions across processes.
        return (type(self), (self.uri, self.message))


class StorageNotFoundError(StorageError, FileNotFoundError):
    """The object, file or bucket does not exist (also a FileNotFoundError for callers)."""


class StorageTransientError(StorageError):
    """A transient failure that outlived the retries (connection, 5xx, throttling)."""

    retryable = True
