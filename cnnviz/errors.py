"""The errors whose message is for the user, shared by the engine, the CLI and the dashboard.

Everything else (``KeyError``, ``TypeError``, ``AttributeError``…) is a fault of cnnviz itself: the
dashboard logs it with its traceback and shows a reference to the log line, the CLI prints the
traceback. No TensorFlow here.
"""

from __future__ import annotations


class CnnvizError(Exception):
    """A request cnnviz refuses or cannot serve, for a reason the user can act on; the message says it."""


class DataNotFoundError(CnnvizError, FileNotFoundError):
    """A data set or model file that is not where it was looked for."""


# What a user error is, everywhere: bad values (ValueError, raised by every check) and cnnviz's own errors.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, CnnvizError)


def is_user_error(e: BaseException) -> bool:
    """True for an error whose message is for the user (not a fault to log with its traceback)."""
    return isinstance(e, USER_ERRORS) and getattr(e, "user", True)
