"""Mutation testing, one module at a time, and its score.

    make mutation [MODULE=crmsync/sync/matching.py] [MUTATION_JOBS=1]
    .venv/bin/python -m bench.mutation crmsync/sync/matching.py [--jobs 1]

For each module: a fresh ``mutants/`` copy (mutmut 3, configured in pyproject.toml's
``[tool.mutmut]``), ``mutmut run`` on that module's mutants only (each mutant runs only the
tests of the four suites below that call the mutated function), then one line:

    crmsync/sync/matching.py: 171 killed / 178 scored = 96.1 %  (7 equivalent excluded)

A timeout counts as killed, as mutmut's own badge counts it. Survivors listed in
``bench/mutation_equivalent.txt`` (name, then the reason the mutant changes no behaviour) are
left out of the score; every other survivor is printed with the command that shows its diff.
A listed mutant that no longer survives is reported too: mutmut numbers mutants per function,
so an edited function renumbers them and the list needs a look.

crmsync/db.py is scored on its PostgreSQL paths only (``claim``, ``write_back``,
``_write_back_postgres``), so it needs DATABASE_URL=postgres://...; mutmut does not mutate
the SQL text inside strings, so ``bench.mutate_sql`` then applies a hand-made list of SQL
mutations and reports those separately.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MODULES: dict[str, tuple[str, ...]] = {
    # module -> the functions scored (empty: all of them)
    "crmsync/sync/matching.py": (),
    "crmsync/sync/outcomes.py": (),
    "crmsync/mapping.py": (),
    "crmsync/db.py": ("claim", "write_back", "_write_back_postgres"),
}
EQUIVALENT_FILE = Path("bench/mutation_equivalent.txt")
LOG_DIR = Path(".bench")
KILLED = {1, 3}  # mutmut's exit codes for a failing test run
TIMEOUT = {24, -24, 36, 152, 255}
SURVIVED = 0


@dataclass
class Score:
    module: str
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    other: dict[str, int] = field(default_factory=dict)  # no tests, suspicious...
    stale: list[str] = field(default_factory=list)  # listed equivalent, but not a survivor

    @property
    def scored(self) -> int:
        return len(self.killed) + len(self.survived) + sum(self.other.values())

    def line(self) -> str:
        percent = 100.0 * len(self.killed) / self.scored if self.scored else 0.0
        text = (
            f"{self.module}: {len(self.killed)} killed / {self.scored} scored = {percent:.1f} %"
            f"  ({len(self.equivalent)} equivalent excluded)"
        )
        if self.other:
            text += "  other: " + ", ".join(f"{k} {v}" for k, v in sorted(self.other.items()))
        return text


def patterns(module: str) -> list[str]:
    dotted = module.removesuffix(".py").replace("/", ".")
    functions = MODULES[module]
    if not functions:
        return [f"{dotted}.*"]
    return [f"{dotted}.x_{name}__mutmut_*" for name in functions]


def selected(module: str, name: str) -> bool:
    dotted = module.removesuffix(".py").replace("/", ".")
    functions = MODULES[module]
    if not functions:
        return name.startswith(dotted + ".")
    return any(name.startswith(f"{dotted}.x_{f}__mutmut_") for f in functions)


def equivalents() -> dict[str, str]:
    """name -> reason, from bench/mutation_equivalent.txt ("name  reason", # comments)."""
    out = {}
    for raw in EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def score(module: str) -> Score:
    meta = json.loads(Path("mutants", module + ".meta").read_text(encoding="utf-8"))
    listed = {k: v for k, v in equivalents().items() if selected(module, k)}
    result = Score(module)
    for name, code in sorted(meta["exit_code_by_key"].items()):
        if not selected(module, name):
            continue
        if code in KILLED or code in TIMEOUT:
            result.killed.append(name)
        elif code == SURVIVED and name in listed:
            result.equivalent.append(name)
        elif code == SURVIVED:
            result.survived.append(name)
        else:
            label = {5: "no tests", 33: "no tests", None: "not run"}.get(code, f"exit {code}")
            result.other[label] = result.other.get(label, 0) + 1
    result.stale = sorted(set(listed) - set(result.equivalent))
    return result


def run(module: str, jobs: int) -> Score:
    if module == "crmsync/db.py" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("crmsync/db.py is scored on PostgreSQL: set DATABASE_URL=postgres://...")
    # A fresh copy: mutmut keeps which tests cover which function from its last run, and a
    # test added since would not run against the mutants.
    shutil.rmtree("mutants", ignore_errors=True)
    LOG_DIR.mkdir(exist_ok=True)
    log = LOG_DIR / f"mutation-{Path(module).stem}.log"
    mutmut = Path(sys.executable).with_name("mutmut")
    print(f"mutmut run {module} (log: {log}) ...", flush=True)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [str(mutmut), "run", "--max-children", str(jobs), *patterns(module)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        sys.exit(f"mutmut failed (exit {done.returncode}): see {log}")
    return score(module)


def report(result: Score) -> None:
    for name in result.survived:
        print(f"  survived: {name}   (.venv/bin/mutmut show {name})")
    for name in result.stale:
        print(f"  listed as equivalent but not a survivor now, review the list: {name}")
    print(result.line(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument(
        "--score-only", action="store_true", help="score the last run, without running"
    )
    args = parser.parse_args()
    lines = []
    for module in args.modules:
        result = score(module) if args.score_only else run(module, args.jobs)
        report(result)
        lines.append(result.line())
        if module == "crmsync/db.py" and not args.score_only:
            from bench import mutate_sql

            lines.append(mutate_sql.main([]))
    print("\n".join(["", "Mutation scores:", *lines]))


if __name__ == "__main__":
    main()
