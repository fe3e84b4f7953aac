"""mistune: render a long generated Markdown document to HTML with its table, footnote and
strikethrough plugins, and also to its AST, as a documentation tool does. The block parser's
state holds every token of the document."""
import mistune

import workload


def work(text):
    plugins = ["table", "footnotes", "strikethrough"]
    html = mistune.create_markdown(plugins=plugins)(text)
    tokens = mistune.create_markdown(renderer=None, plugins=plugins)(text)
    return html + repr(len(tokens))


if __name__ == "__main__":
    workload.run(work, workload.read_input("document.md"))
