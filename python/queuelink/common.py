"""Enumerations and option checks shared by links, readers and writers."""

from __future__ import annotations

from enum import Enum

from . import _constants

# Start methods that links, readers and writers accept. The engine moves
# messages on goroutines, so the value is checked and otherwise unused.
PROC_START_METHODS = ["fork", "forkserver", "spawn"]


class DIRECTION(Enum):
    """Direction of a queue on a link: a source is read, a destination written."""

    FROM = "source"
    TO = "destination"

    def __str__(self) -> str:
        return self.value


class WRAP_WHEN(Enum):
    """When a reader wraps a line in a ContentWrapper."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def engine_direction(direction: object) -> int:
    """Return the engine's constant for a DIRECTION, raising TypeError otherwise."""
    if direction is DIRECTION.FROM:
        return _constants.SOURCE
    if direction is DIRECTION.TO:
        return _constants.DESTINATION
    raise TypeError(
        f"direction must be DIRECTION.FROM or DIRECTION.TO, not {direction!r}"
    )


def validate_start_method(start_method: object) -> None:
    """Raise ValueError unless start_method is None or a known start method."""
    if start_method is not None and start_method not in PROC_START_METHODS:
        raise ValueError(
            f"start_method must be None or one of {', '.join(map(repr, PROC_START_METHODS))}, "
            f"not {start_method!r}"
        )


def validate_wrap_options(wrap_when: object, wrap_threshold: object) -> None:
    """Raise unless the wrap options ask for no wrapping.

    The engine delivers every line as a plain message, so only
    WRAP_WHEN.NEVER (or None) is accepted.
    """
    if wrap_when is not None and not isinstance(wrap_when, WRAP_WHEN):
        raise TypeError(f"wrap_when must be a WRAP_WHEN member or None, not {wrap_when!r}")
    # TODO: wrapping long lines in a ContentWrapper (WRAP_WHEN.AUTO and
    # WRAP_WHEN.ALWAYS) is not implemented.
    if wrap_when not in (None, WRAP_WHEN.NEVER):
        raise ValueError(
            f"wrap_when={wrap_when} is not supported: readers deliver every line "
            f"as a plain str or bytes message; pass WRAP_WHEN.NEVER"
        )
    if wrap_threshold is not None and (
        isinstance(wrap_threshold, bool) or not isinstance(wrap_threshold, int) or wrap_threshold < 0
    ):
        raise ValueError(
            f"wrap_threshold must be None or a non-negative int of bytes, not {wrap_threshold!r}"
        )
