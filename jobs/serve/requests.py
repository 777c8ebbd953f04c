"""OpenAI-style request checks and error replies for the embedded Serve ingress (jobs/serve/embedded.py).

llama.cpp takes what it is given: max_tokens -1 generates until the context is full, a negative
temperature silently means greedy, an unknown role is templated as text. The ingress refuses such
requests itself, with the reply OpenAI gives: HTTP 400 and
{"error": {"message", "type": "invalid_request_error", "param", "code"}}.
"""
from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# (field, lowest, highest) of the numeric sampling parameters, as the OpenAI API defines them
_RANGES = (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0), ("presence_penalty", -2.0, 2.0),
           ("frequency_penalty", -2.0, 2.0))


class APIError(Exception):
    """An error reply in OpenAI's format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", *,
                 param: str | None = None, code: str | int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param
        self.code = status if code is None else code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def _invalid(param: str, message: str, code: str) -> APIError:
    return APIError(400, message, param=param, code=code)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_chat_request(body: Any) -> None:
    """Raise APIError 400 for a chat request llama.cpp would run wrongly instead of refusing."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    if not body.get("model"):
        raise _invalid("model", "you must provide a model parameter", "missing_required_parameter")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(name, f"Invalid type for '{name}': expected an integer, but got {value!r} instead.",
                           "invalid_type")
        if value < 1:
            raise _invalid(name, f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                                 f"but got {value} instead.", "integer_below_min_value")
    for name, low, high in _RANGES:
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _invalid(name, f"Invalid type for '{name}': expected a number, but got {value!r} instead.",
                           "invalid_type")
        if not low <= value <= high:
            side = "below minimum" if value < low else "above maximum"
            bound = f">= {low:g}" if value < low else f"<= {high:g}"
            raise _invalid(name, f"Invalid '{name}': decimal {side} value. Expected a value {bound}, but got "
                                 f"{value:g} instead.", f"decimal_{side.replace(' ', '_')}_value")
    _check_messages(body.get("messages"))


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "'messages' must be a non-empty list", "invalid_value")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages[{i}]", f"Invalid type for 'messages[{i}]': expected an object.",
                           "invalid_type")
        role = message.get("role")
        if role not in ROLES:
            raise _invalid(f"messages[{i}].role", f"Invalid value: {role!r}. Supported values are: "
                           + ", ".join(repr(r) for r in ROLES) + ".", "invalid_value")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _invalid(f"messages[{i}].content", f"Invalid type for 'messages[{i}].content': expected "
                           "a string or an array of content parts.", "invalid_type")
