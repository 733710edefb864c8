"""Every Python block of README.md and of every docs/ page runs as written.

The blocks are extracted from the pages themselves (`docs/scripts/
code_blocks.py`), never copied: a page that drifts from the package fails
here. Blocks marked `<!-- not-run: REASON -->` are counted, not run.
"""

import pytest

from tests.docs.scripts import load

code_blocks = load("code_blocks")

RUNNABLE_PAGES = [
    page
    for page in code_blocks.pages()
    if any(b.runs for b in code_blocks.read_page(page)[0])
]


def test_pages_have_no_malformed_markers_or_fences():
    problems = [
        p for page in code_blocks.pages() for p in code_blocks.read_page(page)[1]
    ]
    assert problems == []


def test_readme_runs_every_python_block():
    blocks, _ = code_blocks.read_page("README.md")
    python = [b for b in blocks if b.language in code_blocks.PYTHON]
    assert len(python) >= 1
    assert [b.line for b in python if not b.runs] == []


def test_census_counts_every_block_once():
    rows = code_blocks.census()
    assert [row["page"] for row in rows] == code_blocks.pages()
    for row in rows:
        with open(f"{code_blocks.ROOT}/{row['page']}", encoding="utf-8") as f:
            fence_lines = sum(1 for line in f if line.lstrip().startswith("```"))
        counted = row["python_run"] + len(row["python_not_run"]) + row["other_count"]
        # an opening and a closing fence per block: each block counted once
        assert 2 * counted == fence_lines, row["page"]


def test_not_run_marker_is_counted_with_its_reason():
    text = (
        "a\n\n<!-- not-run: needs DIV2K -->\n```python\nx = 1\n```\n\n"
        "```python\ny\n```\n"
    )
    blocks, problems = code_blocks.parse(text, "page.md")
    assert problems == []
    assert [(b.line, b.not_run, b.runs) for b in blocks] == [
        (4, "needs DIV2K", False),
        (8, None, True),
    ]


def test_a_block_inside_a_list_item_is_found_and_dedented():
    text = (
        "- step one:\n\n    ```python\n    x = 1\n    if x:\n        y = 2\n    ```\n"
    )
    blocks, problems = code_blocks.parse(text, "page.md")
    assert problems == []
    assert [(b.line, b.code) for b in blocks] == [(3, "x = 1\nif x:\n    y = 2\n")]


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            "<!-- not-run: -->\n```python\nx\n```\n",
            "page.md:1: not-run marker without a reason",
        ),
        (
            "<!-- not-run: gpu -->\ntext\n```python\nx\n```\n",
            "page.md:1: not-run marker without a block",
        ),
        (
            "<!--not-run gpu-->\n",
            "page.md:1: malformed marker (<!-- not-run: REASON -->)",
        ),
        ("```python\nx\n", "page.md:1: code block never closed"),
    ],
)
def test_marker_mistakes_are_errors(text, problem):
    assert problem in code_blocks.parse(text, "page.md")[1]


def test_a_failing_block_fails_with_the_page_line(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "x\n\n```python\nvalue = 1\n```\n\n"
        "```python\nraise SystemExit(value + 1)\n```\n"
    )
    done = code_blocks.run_page("README.md", workdir=str(tmp_path), root=str(tmp_path))
    assert done.returncode == 2
    assert "=== README.md:3" in done.stdout and "=== README.md:7" in done.stdout
    assert "all blocks ran" not in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_python_blocks_run(page, tmp_path):
    done = code_blocks.run_page(page, workdir=str(tmp_path))
    assert done.returncode == 0, (
        f"{page}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )
    assert done.stdout.rstrip().endswith("=== all blocks ran")


def test_shell_blocks_use_existing_commands_and_options():
    blocks = [b for page in code_blocks.pages() for b in code_blocks.read_page(page)[0]]
    calls = [
        c for b in blocks if b.language == "bash" for c in code_blocks.cli_calls(b)
    ]
    assert len(calls) >= 40
    assert code_blocks.unknown_cli_options(blocks) == []


def test_a_misspelled_option_in_a_shell_block_is_found():
    text = (
        "```bash\nenlca export m.keras --quantise int8 \\\n  -o x.tflite\n"
        "enlca nope\n```\n"
    )
    blocks, _ = code_blocks.parse(text, "page.md")
    assert code_blocks.unknown_cli_options(blocks) == [
        "page.md:2: enlca export --quantise",
        "page.md:4: no command enlca nope",
    ]
