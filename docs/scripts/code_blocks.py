"""The code blocks of the README and of every page of the site.

Every fenced Python block of `README.md` and `docs/**/*.md` runs, in page
order, in one fresh Python process per page (blocks of a page share their
variables and working folder, as a reader's session would), in an empty
temporary folder. A block that cannot run on the bundled data (a multi-host
launch, the paper-size recipe, the authors' checkpoints) carries an HTML
comment on the line before its fence:

    <!-- not-run: needs DIV2K and a GPU -->

Such blocks are counted and listed by the census (`python
docs/scripts/code_blocks.py`), never skipped silently; a marker without a
reason, or not followed by a fence, is an error. Blocks of other languages
(`bash`, `text`, `yaml`) are counted as shown, not executed.
`tests/docs/test_code_blocks.py` runs the blocks.
"""

import dataclasses
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
MARKER = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")
MARKER_START = re.compile(r"^\s*<!--\s*not-run")
PYTHON = ("python", "py")


@dataclasses.dataclass
class Block:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str = None  # the reason, for a marked block

    @property
    def runs(self):
        return self.language in PYTHON and self.not_run is None


def pages(root=ROOT):
    """README.md and every Markdown page under docs/, relative paths."""
    found = sorted(glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True))
    return ["README.md"] + [os.path.relpath(p, root) for p in found]


def parse(text, page):
    """`(blocks, problems)` of one page's Markdown text."""
    blocks, problems = [], []
    lines = text.splitlines()
    reason, reason_line = None, None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        if marker:
            if reason is not None:
                problems.append(f"{page}:{reason_line}: not-run marker without a block")
            reason, reason_line = marker.group("reason").strip(), i + 1
            if not reason:
                problems.append(f"{page}:{i + 1}: not-run marker without a reason")
            i += 1
            continue
        if MARKER_START.search(line):
            problems.append(
                f"{page}:{i + 1}: malformed marker (<!-- not-run: REASON -->)"
            )
        opening = FENCE.match(line)
        if opening is None:
            if line.strip() and reason is not None:
                problems.append(f"{page}:{reason_line}: not-run marker without a block")
                reason = None
            i += 1
            continue
        fence = opening.group("fence")
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            problems.append(f"{page}:{i + 1}: code block never closed")
        # a block inside a list item is indented: drop the fence's indent
        indent = len(opening.group("indent"))
        code = "\n".join(line[indent:] for line in lines[i + 1 : end])
        language = opening.group("info").lower().lstrip("{.").rstrip("}")
        blocks.append(Block(page, i + 1, language, code + "\n", reason))
        reason = None
        i = end + 1
    if reason is not None:
        problems.append(f"{page}:{reason_line}: not-run marker without a block")
    return blocks, problems


def read_page(page, root=ROOT):
    with open(os.path.join(root, page), encoding="utf-8") as f:
        return parse(f.read(), page)


def census(root=ROOT):
    """Per page: Python blocks run, Python blocks not run (reasons), others."""
    rows = []
    for page in pages(root):
        blocks, problems = read_page(page, root)
        python = [b for b in blocks if b.language in PYTHON]
        rows.append(
            {
                "page": page,
                "python_run": sum(b.runs for b in python),
                "python_not_run": [
                    f"line {b.line}: {b.not_run}" for b in python if not b.runs
                ],
                "other": sorted({b.language or "plain" for b in blocks} - set(PYTHON)),
                "other_count": len(blocks) - len(python),
                "problems": problems,
            }
        )
    return rows


DRIVER = """
import json, sys
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for block in blocks:
    print(f"=== {block['page']}:{block['line']}", flush=True)
    # Pad so that a traceback's line numbers are the page's line numbers.
    source = "\\n" * block["line"] + block["code"]
    exec(compile(source, block["page"], "exec"), namespace)
print("=== all blocks ran", flush=True)
"""


def run_page(page, workdir=None, timeout=600, root=ROOT):
    """Runs the page's runnable Python blocks; returns the CompletedProcess."""
    blocks = [dataclasses.asdict(b) for b in read_page(page, root)[0] if b.runs]
    workdir = workdir or tempfile.mkdtemp(prefix="enlca-docs-")
    path = os.path.join(workdir, ".blocks.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(blocks, f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-c", DRIVER, path],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def format_census(rows):
    lines = ["| page | Python run | Python not run | other blocks (not executed) |"]
    lines.append("|---|---|---|---|")
    for row in rows:
        not_run = "; ".join(row["python_not_run"]) or "0"
        other = (
            f"{row['other_count']} ({', '.join(row['other'])})" if row["other"] else "0"
        )
        lines.append(f"| {row['page']} | {row['python_run']} | {not_run} | {other} |")
    total_run = sum(r["python_run"] for r in rows)
    total_not = sum(len(r["python_not_run"]) for r in rows)
    lines.append(f"| **{len(rows)} pages** | **{total_run}** | **{total_not}** | |")
    return "\n".join(lines)


ENLCA_CALL = re.compile(r"(?:^|[\s;&|(])enlca\s+([a-z-]+)((?:\s+[^\s;&|#]+)*)")


def cli_calls(block):
    """`(line, command, [--options])` of each `enlca` call in a shell block."""
    calls, pending, start = [], "", None
    for offset, line in enumerate(block.code.splitlines()):
        start = block.line + 1 + offset if start is None else start
        pending += line.split("  #")[0]
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        code = re.sub(r"\$\([^)]*\)", "SUBSHELL", pending)
        for match in ENLCA_CALL.finditer(code):
            options = re.findall(r"(?:^|\s)(--?[A-Za-z][\w-]*)", match.group(2))
            calls.append((start, match.group(1), options))
        pending, start = "", None
    return calls


def unknown_cli_options(blocks):
    """`page:line: enlca COMMAND OPTION` for every option that does not exist."""
    import click

    from keras_enlca.cli.main import cli

    context = click.Context(cli, info_name="enlca")
    problems = []
    for block in blocks:
        if block.language not in ("bash", "sh", "shell", "console"):
            continue
        for line, name, options in cli_calls(block):
            command = cli.get_command(context, name)
            if command is None:
                problems.append(f"{block.page}:{line}: no command enlca {name}")
                continue
            known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            known |= {"--help", "-h"}
            for option in options:
                if option not in known:
                    problems.append(f"{block.page}:{line}: enlca {name} {option}")
    return problems


if __name__ == "__main__":
    rows = census()
    print(format_census(rows))
    problems = [p for r in rows for p in r["problems"]]
    blocks = [b for page in pages() for b in read_page(page)[0]]
    calls = sum(len(cli_calls(b)) for b in blocks if b.language == "bash")
    print(f"\n{calls} `enlca` calls in shell blocks: commands and options checked")
    problems += unknown_cli_options(blocks)
    for problem in problems:
        print("problem:", problem, file=sys.stderr)
    sys.exit(1 if problems else 0)
