"""Registry and verdicts of the exercises (see the package docstring)."""
from __future__ import annotations

import traceback

EXERCISES: dict = {}


class Wrong(AssertionError):
    """The answer is not right yet; the message says what is wrong."""


class NotDone(Exception):
    """The answer is still the stub."""


def exercise(name: str):
    """Register `function(answer) -> str` as the check of exercise `name` ("LESSON.name")."""
    def register(function):
        if name in EXERCISES:
            raise ValueError(f"exercise {name!r} is registered twice")
        EXERCISES[name] = function
        return function
    return register


def call(answer, *args, **kwargs):
    """The learner's function on one input; the stub's NotImplementedError becomes NotDone, any other error
    becomes Wrong naming it (the line of the learner's code it came from)."""
    if answer is None:
        raise NotDone
    try:
        return answer(*args, **kwargs)
    except NotImplementedError:
        raise NotDone from None
    except Exception as error:  # the learner's bug, reported as such
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise Wrong(f"it raised {type(error).__name__}: {error} (line {frame.lineno}: {frame.line})") from None


def run(name: str, answer) -> tuple[str, str]:
    """(status, message): status "right", "wrong" or "not done"."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; known: {sorted(EXERCISES)}")
    try:
        return "right", EXERCISES[name](answer)
    except NotDone:
        return "not done", "not done yet: the cell above still holds the stub (raise NotImplementedError())"
    except Wrong as wrong:
        return "wrong", f"not right yet: {wrong}"


def check(name: str, answer) -> None:
    """Check `answer` for exercise `name` and print the verdict (a lesson's check cell; returns nothing, so a
    notebook shows the verdict alone)."""
    print(f"{name}: {run(name, answer)[1]}")


def passes(name: str, answer) -> bool:
    """Whether `answer` is right, silently (the hidden assert an nbgrader course grades with)."""
    return run(name, answer)[0] == "right"
