"""The one exception type users see: the CLI prints its message on one line, no traceback."""


class ReproError(Exception):
    """A problem with the user's input or environment, explained in one line."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ReproError(message)
