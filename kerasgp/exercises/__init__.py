"""The checks behind the lessons' "your turn" cells.

    from kerasgp.exercises import check
    check("12.affine_quantise", affine_quantise)   # prints what is right or what is wrong; never raises
    passes("12.affine_quantise", affine_quantise)  # True or False, silently (nbgrader's hidden assert)

An exercise is a function of a lesson module (`lesson03.py`, ...) registered under "LESSON.name": it takes
the learner's answer (usually a function) and returns one line saying it is right, or raises `Wrong` with
what is wrong in plain words (a shape, a value, the input it fails on). An answer still holding nbgrader's
stub (`raise NotImplementedError()`) or None reads "not done yet", so a lesson runs top to bottom unsolved.
Any other error the answer raises is reported, not raised.

The solutions and the typical wrong answers the checks must catch live outside the package, in
`instructor/solutions.py`, which the tests run every check against; `instructor/README.md` says how a
course releases and grades the lessons with nbgrader.
"""
from __future__ import annotations

# each lesson module registers its exercises on import
from . import (lesson00, lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07,  # noqa: F401
               lesson08, lesson09, lesson10, lesson11, lesson12)
from .core import EXERCISES, NotDone, Wrong, check, passes, run

__all__ = ["EXERCISES", "NotDone", "Wrong", "check", "passes", "run"]
