"""The README is the front door: short, and every link leads into the site."""

import os
import re

from tests.docs.scripts import ROOT

LINK = re.compile(r"\]\((?!https?://)([^)#\s]+)(?:#[^)]*)?\)")


def read_readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_every_relative_link_of_the_readme_exists():
    targets = LINK.findall(read_readme())
    assert len(targets) >= 15
    missing = [t for t in targets if not os.path.exists(os.path.join(ROOT, t))]
    assert missing == []


def test_readme_links_every_guide_of_the_nav():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        nav = re.findall(r"^\s+- [^:#]+: (guides/[\w-]+\.md)$", f.read(), re.M)
    assert len(nav) == len(os.listdir(os.path.join(ROOT, "docs", "guides")))
    readme = read_readme()
    assert [page for page in nav if f"(docs/{page})" not in readme] == []
