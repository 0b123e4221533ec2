#!/usr/bin/env python3
"""The value table of a chart's README.md, generated from the `# --` comments of its values.yaml.

    helm-values-doc.py --write helm/switchboard   # rewrite the table in README.md
    helm-values-doc.py --check helm/switchboard   # exit 1 when the table is stale or a value is undocumented

A `# -- text` comment (continued by following `#` lines) documents the key right below it, and
with it everything under that key. Every value in values.yaml must be documented so, itself or
through an ancestor. The table sits between the markers <!-- values:start --> and <!-- values:end -->.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

START, END = "<!-- values:start -->", "<!-- values:end -->"
KEY = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(\s|$)")


def documented(values_text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        if not stripped or stripped.startswith("-"):
            continue
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [m.group(2)])
        stack.append((indent, m.group(2)))
        if pending is not None:
            out.append((path, " ".join(p for p in pending if p)))
            pending = None
    return out


def leaves(v, path: str = ""):
    if isinstance(v, dict) and v:
        for k, x in v.items():
            yield from leaves(x, f"{path}.{k}" if path else k)
    else:
        yield path


def lookup(values: dict, path: str):
    v = values
    for part in path.split("."):
        v = v[part]
    return v


def type_of(v) -> str:
    return {dict: "object", list: "list", str: "string", bool: "bool", int: "int", float: "number",
            type(None): "null"}[type(v)]


def table(chart: Path) -> tuple[str, list[str]]:
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    docs = documented(text)
    paths = [p for p, _ in docs]
    problems = [f"`{leaf}` has no `# --` description (on itself or a parent)"
                for leaf in leaves(values)
                if not any(leaf == p or leaf.startswith(p + ".") for p in paths)]
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for path, desc in docs:
        try:
            v = lookup(values, path)
        except (KeyError, TypeError):
            problems.append(f"`{path}` is documented but not in values.yaml")
            continue
        default = json.dumps(v, separators=(", ", ": "))
        default = f"`{default}`" if len(default) <= 60 else "see values.yaml"
        cells = [f"`{path}`", type_of(v), default, desc]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n", problems


def main() -> int:
    ap = argparse.ArgumentParser()
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("chart", type=Path)
    args = ap.parse_args()
    rendered, problems = table(args.chart)
    readme_path = args.chart / "README.md"
    readme = readme_path.read_text()
    if START not in readme or END not in readme:
        problems.append(f"{readme_path} lacks the markers {START} / {END}")
    else:
        head, rest = readme.split(START, 1)
        _, tail = rest.split(END, 1)
        updated = f"{head}{START}\n{rendered}{END}{tail}"
        if args.write:
            readme_path.write_text(updated)
        elif updated != readme:
            problems.append(f"the value table in {readme_path} is stale: run "
                            f"`tools/deploy/.venv/bin/python scripts/helm-values-doc.py --write {args.chart}`")
    for p in problems:
        print(f"helm-values-doc: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
