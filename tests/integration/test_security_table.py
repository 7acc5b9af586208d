"""SECURITY.md maps each hardening rule (1-13) to the tests that prove it:
every test it names must exist, so the table cannot drift from the suite
(a renamed or deleted test fails here). No lab needed.
"""

import ast
import os
import re

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INTEGRATION = os.path.join(TOP, "tests", "integration")


def table_rows():
    with open(os.path.join(TOP, "SECURITY.md"), encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| (\d+) \|([^|]*)\|(.*)\|\s*$", line)
        if m:
            rows[int(m.group(1))] = m.group(3)
    return rows


def named_tests(cell):
    """(file, test name) for each `file.py::name` / `::name` in a cell;
    `H/x.py` is tests/integration/test_hardening_x.py, and a bare `::name`
    belongs to the file named last."""
    out, current = [], None
    for ref in re.findall(r"`([^`]+)`", cell):
        if ".py" in ref:
            f, _, name = ref.partition("::")
            current = f.replace("H/", "test_hardening_")
            if not name:
                continue
        elif ref.startswith("::"):
            name = ref[2:]
        else:
            continue
        out.append((current, name.split("[")[0]))
    return out


def test_every_rule_has_a_row():
    assert sorted(table_rows()) == list(range(1, 14))


def test_every_named_test_exists():
    defined = {}
    problems = []
    for rule, cell in sorted(table_rows().items()):
        tests = named_tests(cell)
        assert tests, "rule %d names no test" % rule
        for f, name in tests:
            path = os.path.join(INTEGRATION, f)
            if not os.path.exists(path):
                problems.append("rule %d: no file %s" % (rule, f))
                continue
            if f not in defined:
                with open(path, encoding="utf-8") as fh:
                    defined[f] = {n.name for n in ast.walk(ast.parse(fh.read()))
                                  if isinstance(n, ast.FunctionDef)
                                  and n.name.startswith("test_")}
            # `_built` / `_t` / `_batch` style lists name a common prefix
            ok = (name in defined[f] or
                  (name.endswith("_") and any(n.startswith(name) for n in defined[f])))
            if not ok:
                problems.append("rule %d: %s::%s does not exist" % (rule, f, name))
    assert not problems, "\n".join(problems)
