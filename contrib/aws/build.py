#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes ntrescue-rdp.yaml from its head and tail and the helper script
contrib/ntrescue-flow.sh, embedded verbatim as the last command of the
runNtrescue step. `--check` exits 1 when the committed YAML differs.

AWS-RunShellScript joins the step's commands into one script and runs it
with `sh` (dash on Debian and Ubuntu helpers): the `export` lines come
first, so the flow script's bash shebang would be a comment there. The
last command is therefore POSIX sh: it writes the flow script to a file
(a quoted here-document, so nothing in it is expanded) and runs it with
bash explicitly."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
INDENT = " " * 14  # the block scalar under `commands: - |`
# Ends the here-document; must not be a line of the script.
MARKER = "NTRESCUE_FLOW_SH"
BEFORE = f"""\
# contrib/ntrescue-flow.sh is bash; this step runs under sh: write it to a
# file and run it with bash.
ntrescue_flow=$(mktemp /tmp/ntrescue-flow.XXXXXX) || exit 1
cat > "$ntrescue_flow" <<'{MARKER}'
"""
AFTER = f"""\
{MARKER}
bash "$ntrescue_flow"
ntrescue_rc=$?
rm -f "$ntrescue_flow"
exit "$ntrescue_rc"
"""


def render() -> str:
    script = (HERE.parent / "ntrescue-flow.sh").read_text()
    if not script.endswith("\n") or MARKER in script.splitlines():
        raise SystemExit(f"ntrescue-flow.sh must end with a newline and hold no line {MARKER}")
    command = BEFORE + script + AFTER
    body = "".join(INDENT + line if line.strip() else line for line in command.splitlines(True))
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
