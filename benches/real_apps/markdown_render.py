"""Python-Markdown: render a long generated document (headings, lists, tables, fenced code,
footnotes, block quotes) to HTML with the `extra` and `toc` extensions, as a static site
generator does. The `Markdown` instance and its tree processors hold the whole
ElementTree of the document while they work on it."""
import markdown

import workload


def work(text):
    md = markdown.Markdown(extensions=["extra", "toc"])
    html = md.convert(text)
    return html + md.toc


if __name__ == "__main__":
    workload.run(work, workload.read_input("document.md"))
