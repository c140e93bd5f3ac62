"""The bad-input matrix as a table: what each command says to each hostile input.

    python benchmarks/bad_inputs_table.py > table.md

Runs every row of tests/test_bad_inputs.py (the same inputs, made in a temporary folder) through
`sarflow.cli.main` and prints, per command, the input, the exit status and the one line written
on stderr (folders shortened to file names). Rows of commands that are not registered are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import sys
import tempfile
from pathlib import Path

MATRIX_PATH = Path(__file__).resolve().parents[1] / "tests" / "test_bad_inputs.py"


def load_matrix():
    spec = importlib.util.spec_from_file_location("bad_inputs_matrix", MATRIX_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bad_inputs_matrix"] = module
    spec.loader.exec_module(module)
    return module


def shorten(text: str, root: Path) -> str:
    text = text.replace(str(root) + "/", "")
    return re.sub(r"(?:[\w.-]+/)+([\w.-]+)", r"\1", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--command", action="append", help="only these commands (repeatable)")
    args = parser.parse_args(argv)
    matrix = load_matrix()
    with tempfile.TemporaryDirectory(prefix="sarflow-matrix-") as tmp:
        root = Path(tmp)
        inputs = matrix.Inputs(root / "inputs")
        inputs.root.mkdir()
        by_command: dict[str, list[tuple[str, int, str]]] = {}
        for k, case in enumerate(matrix.CASES):
            if args.command and case.command not in args.command:
                continue
            if matrix.command_available(case.command) or case.root_only_skip:
                continue
            folder = root / f"case-{k}"
            folder.mkdir()
            buffer = io.StringIO()

            def capture(buffer=buffer) -> str:
                text = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                return text

            with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(io.StringIO()):
                status, err, _, _ = matrix.run_case(case, inputs, folder, capture)
            said = " / ".join(line for line in err.splitlines() if line.strip()) or "(works)"
            by_command.setdefault(case.command, []).append((case.name, status, shorten(said, root)))
    for command, rows in by_command.items():
        print(f"\n`sarflow {command}` ({len(rows)} inputs)\n")
        print("| input | exit | stderr |")
        print("|---|---:|---|")
        for name, status, said in rows:
            print(f"| {name} | {status} | {said.replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
