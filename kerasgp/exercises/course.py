"""The lessons as an nbgrader course: the instructor's source notebooks, with the solutions filled in.

    python -m kerasgp exercises source COURSE      # COURSE/source/lessons/NN_*.ipynb, then nbgrader takes over

The lessons in lessons/ are the learner's copy. Their exercise cells carry nbgrader's metadata (a solution
cell with the stub `# YOUR CODE HERE` / `raise NotImplementedError()`, then a locked, graded check cell).
`source_notebook` puts the bodies of instructor/solutions.py between `### BEGIN SOLUTION` and `### END
SOLUTION` in each solution cell and a hidden `assert passes(...)` into each check cell, so that nbgrader's
generate_assignment gives back exactly the learner's copy and its autograder fails an answer the check
calls wrong (the visible check only prints). `learner_copy` is generate_assignment's clearing, for tests.
"""
from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import re
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_FILE = PROJECT_ROOT / "instructor" / "solutions.py"
STUB = "# YOUR CODE HERE\n{indent}raise NotImplementedError()"
_STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*$", re.M)
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)
_HIDDEN = re.compile(r"\n?^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*$", re.M | re.S)
_CHECK = re.compile(r"""check\(\s*["']([^"']+)["']\s*,\s*(\w+)\s*\)""")
_DEF = re.compile(r"^def (\w+)\(", re.M)


def load_solutions(path=SOLUTIONS_FILE):
    """instructor/solutions.py as a module (it is not part of the package)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the solutions are not in this copy of the workbook")
    spec = importlib.util.spec_from_file_location("kerasgp_instructor_solutions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercise_cells(notebook) -> list[tuple[int, int, str]]:
    """(solution cell index, check cell index, exercise name) for each exercise of a notebook: a solution
    cell with the stub, followed (not necessarily at once) by the graded cell that checks its function."""
    found, pending = [], {}
    for i, cell in enumerate(notebook["cells"]):
        meta, source = _nbgrader(cell), "".join(cell["source"])
        if meta.get("solution") and cell["cell_type"] == "code":
            for name in _DEF.findall(source):
                pending[name] = i
        if meta.get("grade") and cell["cell_type"] == "code":
            for name, function in _CHECK.findall(source):
                if function not in pending:
                    raise ValueError(f"cell {i} checks {function}, which no solution cell before it defines")
                found.append((pending.pop(function), i, name))
    return found


def _body(function) -> str:
    """The statements of a solution function (its docstring left out), dedented."""
    lines = inspect.getsource(function).splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(":")) + 1
    body = textwrap.dedent("\n".join(lines[start:]))
    if function.__doc__:
        body = body.split('"""', 2)[2].lstrip("\n")
    return body.rstrip("\n")


def source_notebook(notebook, solutions) -> dict:
    """The instructor's version of a learner's notebook: solutions in, hidden asserts in, outputs out."""
    out = copy.deepcopy(notebook)
    for solution_index, check_index, name in exercise_cells(out):
        cell, check = out["cells"][solution_index], out["cells"][check_index]
        source = "".join(cell["source"])
        function = solutions.SOLUTIONS[name]
        matches = list(_STUB.finditer(source))
        if len(matches) != 1:
            raise ValueError(f"exercise {name}: its cell must hold the stub once; found {len(matches)}")
        indent = matches[0].group(1)
        body = textwrap.indent(_body(function), indent)
        filled = f"{indent}### BEGIN SOLUTION\n{body}\n{indent}### END SOLUTION"
        cell["source"] = source[:matches[0].start()] + filled + source[matches[0].end():]
        answer = _CHECK.search("".join(check["source"])).group(2)
        check["source"] = ("".join(check["source"]).rstrip("\n") + "\n### BEGIN HIDDEN TESTS\n"
                           f'from kerasgp.exercises import passes\nassert passes("{name}", {answer})\n### END HIDDEN TESTS')
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    return out


def learner_copy(notebook) -> dict:
    """What nbgrader's generate_assignment makes of a source notebook (ClearSolutions, ClearHiddenTests)."""
    out = copy.deepcopy(notebook)
    for cell in out["cells"]:
        source = "".join(cell["source"])
        source = _SOLUTION.sub(lambda m: m.group(1) + STUB.format(indent=m.group(1)), source)
        cell["source"] = _HIDDEN.sub("", source)
    return out


def write_course(course, lessons=None, solutions_file=SOLUTIONS_FILE) -> list[Path]:
    """COURSE/source/lessons/<lesson>.ipynb for every lesson with exercises (or the given lesson files)."""
    solutions = load_solutions(solutions_file)
    paths = [Path(p) for p in lessons] if lessons else sorted((PROJECT_ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    folder = Path(course) / "source" / "lessons"
    written = []
    for path in paths:
        notebook = json.loads(path.read_text())
        if not exercise_cells(notebook):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        target.write_text(json.dumps(source_notebook(notebook, solutions), indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written
