"""The project's import graph: circles, the largest modules, and the files one entry point reaches.

    python bench/structure.py                      # this checkout, from jobs/solve.py
    python bench/structure.py --root ../other-checkout --from jobs/solver.py jobs/run.py
    python bench/structure.py --list               # also name every file reached

Reads the source with `ast` (nothing is imported or run). Every import counts, function-level and
TYPE_CHECKING ones too: a lazy import still couples two modules, and it is where circles hide. A
.py file is a module only when each folder above it up to the top package has an __init__.py, so
data that happens to be Python (the harness fragments, the prompt examples) is not counted.
Exits 1 when there is a circle or a module over --limit lines, so CI or a hook can use it.
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGES = ("actors", "jobs", "storage", "train")


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every real module of the project's packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            folders = path.relative_to(root).parts[:-1]
            if not all((root.joinpath(*folders[:i + 1]) / "__init__.py").exists() for i in range(len(folders))):
                continue  # data folder (no __init__.py on the way): not importable code
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from pkg import sub` names the submodule; `from pkg import function` names pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import pkg.sub.thing`: the nearest module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for child in graph[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="checkout to read")
    parser.add_argument("--from", dest="entries", nargs="+", default=["jobs/solve.py"],
                        help="entry files whose reach is counted (default: the competition spine)")
    parser.add_argument("--limit", type=int, default=300, help="lines above which a module is reported")
    parser.add_argument("--top", type=int, default=8, help="how many of the largest modules to show")
    parser.add_argument("--list", action="store_true", help="name every file each entry reaches")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    known = modules(root)
    graph = defaultdict(set, {name: imports(name, path, known) for name, path in known.items()})
    lines = {name: len(path.read_text().splitlines()) for name, path in known.items()}
    rel = {name: str(path.relative_to(root)) for name, path in known.items()}

    found = circles(graph)
    for component in found:
        print("circle:", " <-> ".join(component))
    largest = sorted(lines, key=lambda n: -lines[n])
    print("largest:", ", ".join(f"{rel[n]} {lines[n]}" for n in largest[: args.top]))
    over = [n for n in largest if lines[n] > args.limit]
    per_package = defaultdict(int)
    for name in known:
        per_package[rel[name].rpartition("/")[0]] += 1
    print("modules per folder:", ", ".join(f"{k}/ {v}" for k, v in sorted(per_package.items())))
    for entry in args.entries:
        name = ".".join(Path(entry).with_suffix("").parts)
        if name not in known:
            print(f"from {entry}: no such module")
            continue
        seen = reached(graph, name)
        print(f"from {entry}: imports {len(graph[name])} project files directly; reaches {len(seen)} files, "
              f"{sum(lines[n] for n in seen)} lines")
        if args.list:
            for n in sorted(seen, key=lambda m: rel[m]):
                print(f"  {rel[n]} {lines[n]}")
    print(f"modules {len(known)}; circles {len(found)}; over {args.limit} lines: {len(over)}"
          + (f" ({', '.join(f'{rel[n]} {lines[n]}' for n in over)})" if over else ""))
    return 1 if found or over else 0


if __name__ == "__main__":
    sys.exit(main())
