"""Every relative link in README.md, CHANGELOG.md and docs/*.md points at a file that exists, and every
``page.md#anchor`` at a heading of that page (anchors made the way GitHub makes them)."""

import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation other than ``-`` and ``_`` dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache
def prose(page: Path) -> str:
    """The page's text without its fenced code blocks, read once per page."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    ids = []
    for match in re.finditer(r"^#{1,6}\s+(.+)$", prose(page), re.MULTILINE):
        anchor = github_anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        ids.append(anchor if count == 0 else f"{anchor}-{count}")
    return frozenset(ids)


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path) if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    return broken


def test_github_anchor_matches_github() -> None:
    assert github_anchor(
        "A prompt-aware policy (`--prompt-aware`) and a wider discriminator: tried"
    ) == ("a-prompt-aware-policy---prompt-aware-and-a-wider-discriminator-tried")
    assert (
        github_anchor("Is the miss robust? The bar on four seeds")
        == "is-the-miss-robust-the-bar-on-four-seeds"
    )


def test_broken_links_are_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n[ok](other.md#a-heading) [ok](#top) [web](https://example.org/x.md#y)\n"
        "[gone](missing.md) [bad](other.md#nope)\n```\n[in code](ignored.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "other.md#nope (no such heading)",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_resolve(page: Path) -> None:
    assert broken_links(page) == []
