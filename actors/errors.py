"""The project's error tree: retryable vs fatal roots, so callers know whether to try again."""
from __future__ import annotations


class LinguacodusError(Exception):
    """Root of every error the project raises on purpose."""


class RetryableError(LinguacodusError):
    """A transient failure: the same call may succeed later (timeouts, overload, 5xx)."""


class FatalError(LinguacodusError):
    """A permanent failure: retrying the same call will fail the same way."""


class ConfigError(FatalError):
    """Bad configuration or input given by the user (names the field and the problem)."""


class LLMError(LinguacodusError):
    """The language model could not answer."""


class LLMUnavailableError(LLMError, RetryableError):
    """Endpoint down, overloaded or timed out."""


class LLMResponseError(LLMError, FatalError):
    """The model answered, but not in a usable form."""


class LLMTimeoutError(LLMError, FatalError):
    """The call ran past its time limit (ChatRequest.time_limit_s) and was stopped: the time it was
    given is spent, so it is not tried again."""


class ModelFileError(ConfigError):
    """Embedded model weights are missing or corrupt (names the package or file)."""


class StageError(LinguacodusError):
    """A pipeline stage failed for one competition; becomes fields on its result row."""
