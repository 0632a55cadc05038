#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes ntrescue-rdp.yaml from its head and tail and the helper script
contrib/ntrescue-flow.sh, embedded verbatim as the last command of the
runNtrescue step. `--check` exits 1 when the committed YAML differs."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
INDENT = " " * 14  # the block scalar under `commands: - |`


def render() -> str:
    script = (HERE.parent / "ntrescue-flow.sh").read_text()
    body = "".join(INDENT + line if line.strip() else line for line in script.splitlines(True))
    head = (HERE / "ntrescue-rdp.head.yaml").read_text()
    tail = (HERE / "ntrescue-rdp.tail.yaml").read_text()
    return head + body + tail


def main() -> int:
    out = HERE / "ntrescue-rdp.yaml"
    text = render()
    if sys.argv[1:] == ["--check"]:
        if out.read_text() != text:
            print(f"{out} is stale: run {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
