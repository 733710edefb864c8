"""The CLI reference page: `enlca --help` and every command's `--help`."""

from click.testing import CliRunner

from keras_enlca.cli.main import cli


def help_text(arguments):
    """The text `enlca ARGUMENTS --help` prints (no TensorFlow is imported)."""
    result = CliRunner().invoke(cli, [*arguments, "--help"], prog_name="enlca")
    if result.exit_code != 0:
        raise RuntimeError(
            f"enlca {' '.join(arguments)} --help failed: {result.output}"
        )
    return result.output.rstrip()


def page():
    """The Markdown of `reference/cli.md`."""
    context = cli.make_context("enlca", ["--help"], resilient_parsing=True)
    commands = cli.list_commands(context)
    lines = [
        "# `enlca` command line",
        "",
        "The `--help` text of every command, as `enlca` prints it (generated at"
        " build time by `docs/scripts/cli_pages.py`). Exit statuses: see"
        " [Exit statuses](../guides/command-line.md#exit-statuses).",
        "",
        "```text",
        help_text([]),
        "```",
        "",
    ]
    for name in commands:
        lines += [f"## `enlca {name}`", "", "```text", help_text([name]), "```", ""]
    return "\n".join(lines)
