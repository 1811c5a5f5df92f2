"""Log lines through structlog: one JSON object per line (or a console rendering for humans),
the same for our own loggers, the standard library's and gunicorn's.

Every line carries time, level, logger and event, plus whatever the request or job bound with
`bind()` (request id, merchant id, route...). Before anything is rendered, `redact` masks every
value that looks like a card number, a resident ID or a mobile number, in any field, exception
text included: a log pipeline never holds them in clear.
"""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from stdnum import luhn
from structlog.contextvars import bind_contextvars, clear_contextvars

# A run of 12..19 digits, optionally grouped by single spaces or dashes, that passes Luhn.
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
# GB 11643: 17 digits and a check character (digit or X), not inside a longer digit run.
_RESIDENT_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
# A mainland mobile number (1[3-9] and 9 digits), optionally +86 / 0086 in front.
_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?!\d)")


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"[card ...{digits[-4:]}]" if luhn.is_valid(digits) else match.group()


def redact_text(text: str) -> str:
    """Mask card numbers (Luhn-valid digit runs), resident IDs and mobile numbers.

    >>> redact_text("pan 6222 0202 0000 0000 006 id 11010519491231002X tel +86 138 0013 8000")
    'pan [card ...0006] id [resident id] tel [mobile]'
    >>> redact_text("order 1764489600123 of 12 items")
    'order 1764489600123 of 12 items'
    """
    text = _RESIDENT_ID.sub("[resident id]", text)
    text = _CARD.sub(_mask_card, text)
    return _MOBILE.sub("[mobile]", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**10:
        masked = redact_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_redact_value(item) for item in value]
    return value


def redact(_logger, _method, event_dict: dict) -> dict:
    """structlog processor: mask personal numbers in every field."""
    return {key: _redact_value(value) for key, value in event_dict.items()}


def _timestamper():
    return structlog.processors.TimeStamper(fmt="iso", utc=True, key="time")


def _pre_chain() -> list:
    """What a line gets before rendering, whether it came through structlog or logging."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamper(),
    ]


def formatter(log_format: str = "json") -> logging.Formatter:
    """A logging.Formatter rendering any record (ours, a library's, gunicorn's) the same way."""
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if log_format == "console"
                     else structlog.processors.JSONRenderer(default=str))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_pre_chain(), structlog.stdlib.ExtraAdder()],
        # The traceback becomes the "exception" text before redaction, so it is masked too.
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    redact, renderer],
    )


def formatter_from_env() -> logging.Formatter:
    """For gunicorn's logconfig_dict (a factory with no arguments): PAYGATE_LOG_FORMAT decides."""
    from gateway.config import Settings

    return formatter(Settings.load().log_format)


_HANDLER_MARK = "_paygate_handler"


def configure(log_format: str = "json", level: str = "INFO", stream=None) -> None:
    """Route structlog and the standard library's root logger to one handler in this format.
    Safe to call again (the app factory runs once per app, tests build many): the handler is
    replaced, never added twice."""
    structlog.configure(
        processors=[*_pre_chain(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False) or _is_basic_config(h)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def ensure_configured(log_format: str = "json", level: str = "INFO") -> None:
    """`configure` unless it already ran in this process (the app factory: a test or a tool that
    set up its own handler keeps it)."""
    if not any(getattr(h, _HANDLER_MARK, False) for h in logging.getLogger().handlers):
        configure(log_format, level)


def _is_basic_config(handler: logging.Handler) -> bool:
    # logging.basicConfig's stderr handler, which a library or an old entry point may have added.
    return type(handler) is logging.StreamHandler and handler.formatter is not None and not isinstance(
        handler.formatter, structlog.stdlib.ProcessorFormatter) and handler.stream in (sys.stderr, sys.stdout)


def get_logger(name: str | None = None):
    return structlog.stdlib.get_logger(name)


def bind(**values: Any) -> None:
    """Add fields to every line logged from here on in this context (request, job)."""
    bind_contextvars(**values)


def clear() -> None:
    clear_contextvars()
