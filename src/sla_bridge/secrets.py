"""Secrets: read from where the configuration says, and never let out of the process.

A token reaches a log line, an error, the ``--json`` summary or the store only
through text built from an exception or a message. Rather than trust each such
path, every secret revealed from the configuration is registered here, and
``scrub`` masks it (and its HTTP Basic-auth base64 forms, and any credential
after ``Basic``/``Bearer``/``Token token=``) in text before it leaves: the logging
record factory, the sync summary, the store and the CLI's error line all call it.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from .errors import ConfigError

MASK = "***"
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
_CREDENTIAL = re.compile(r"(?i)\b(Basic|Bearer|Token token=)(\s*)([A-Za-z0-9+/=._~\-]{6,})")


def register(value: str, user: str | None = None) -> None:
    """Mask `value` from now on; with `user`, also the base64 of ``user:value`` (Basic auth)."""
    forms = {value}
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode("ascii"))
    global _pattern
    with _lock:
        if forms <= _values:
            return
        _values.update(v for v in forms if len(v) >= 4)  # a 1-3 character "secret" would mask everything
        ordered = sorted(_values, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None


def scrub(text: str) -> str:
    """`text` with every registered secret, and any credential after an auth scheme, masked."""
    if not isinstance(text, str):
        text = str(text)
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


class ScrubbedTexts(list[str]):
    """A list of messages for people (a summary's errors): scrubbed as they are added."""

    def append(self, text: str) -> None:
        super().append(scrub(text))

    def extend(self, texts: Any) -> None:
        super().extend(scrub(t) for t in texts)

    def __iadd__(self, texts: Any) -> "ScrubbedTexts":  # type: ignore[override,misc]
        self.extend(texts)
        return self


_installed = False


def install_log_scrubbing() -> None:
    """Every log record is scrubbed where it is made: its message and its traceback text."""
    global _installed
    if _installed:
        return
    _installed = True
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg, record.args = scrub(record.getMessage()), ()
        except Exception:  # noqa: BLE001 - a bad format string is logging's problem, not ours
            record.msg, record.args = scrub(str(record.msg)), ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)


# --- where secrets come from --------------------------------------------------------------

SECRET_FILE_LIMIT = 64 * 1024  # a token is short; /dev/zero or a log file by mistake is not


class SecretRef(BaseModel):
    """Where a secret lives: ``{ env = "NAME" }`` or ``{ file = "/path" }``.

    The value is read only when an adapter asks for it, never printed: surrounding
    white space (the newline a file or a container secret ends with) is stripped,
    what an HTTP header still cannot carry is refused, and the value is registered
    so that any text leaving the process is scrubbed of it. A relative ``file`` is
    relative to the configuration file, like the store.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_inline(cls, value: Any) -> Any:
        if isinstance(value, str):
            # The message must not echo the value: it is the secret itself.
            raise ValueError('a secret is never written in the configuration: use { env = "VARIABLE" } or'
                             ' { file = "/path/to/secret" }')
        return value

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> "SecretRef":
        if (self.env is None) == (self.file is None):
            raise ValueError('give exactly one of env = "VARIABLE" or file = "/path/to/secret"')
        base = (info.context or {}).get("base") if info is not None else None
        if self.file is not None and not self.file.is_absolute() and base is not None:
            object.__setattr__(self, "file", Path(base) / self.file)
        return self

    def _raw(self) -> tuple[str, str]:
        if self.env is not None:
            where = f"environment variable {self.env}"
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"secret: {where} is not set")
            return where, value
        assert self.file is not None
        where = f"file {self.file}"
        try:
            with self.file.open("rb") as handle:
                data = handle.read(SECRET_FILE_LIMIT + 1)
        except OSError as exc:
            raise ConfigError(f"secret: cannot read {where}: {exc.strerror}") from None
        if len(data) > SECRET_FILE_LIMIT:
            raise ConfigError(f"secret: {where} is larger than {SECRET_FILE_LIMIT // 1024} KiB: not a secret file")
        try:
            return where, data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"secret: {where} is not UTF-8 text") from None

    def reveal(self) -> str:
        where, value = self._raw()
        value = value.strip()
        if not value:
            raise ConfigError(f"secret: {where} is empty")
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or not value.isascii():
            # requests would refuse the header and quote its value in the error.
            raise ConfigError(f"secret: {where} holds a line break, a control or a non-ASCII character inside"
                              " the value, which an HTTP header cannot carry")
        register(value)
        return value

    def __repr__(self) -> str:
        return f"SecretRef(env={self.env!r})" if self.env else f"SecretRef(file={str(self.file)!r})"
