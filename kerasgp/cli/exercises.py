"""The lessons' exercises as an nbgrader course (instructors). Handlers import what they run inside themselves (see
`kerasgp.cli`)."""
from __future__ import annotations


def _exercises(args) -> int:
    from ..exercises import course

    written = course.write_course(args.course, args.lessons or None)
    for path in written:
        print(path)
    print(f"{len(written)} source notebooks with their solutions; next, in {args.course}: "
          "nbgrader generate_assignment lessons (instructor/README.md)")
    return 0


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
    exercises = sub.add_parser("exercises", help="the lessons' exercises as an nbgrader course (instructors)")
    esub = exercises.add_subparsers(dest="exercises_command", required=True)
    p = esub.add_parser("source", help="write COURSE/source/lessons/*.ipynb: the lessons with their solutions filled "
                        "in, for nbgrader's generate_assignment and autograde")
    p.add_argument("course", help="the nbgrader course folder")
    p.add_argument("lessons", nargs="*", help="lesson notebooks (default: every lesson with exercises)")
    p.set_defaults(func=_exercises)
