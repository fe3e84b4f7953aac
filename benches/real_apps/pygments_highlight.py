"""Pygments: highlight a 1 MB generated Python module to HTML with line numbers, as a code
browser does. The lexer's regex state machine yields tokens to the formatter."""
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

import workload


def work(source):
    return highlight(source, PythonLexer(), HtmlFormatter(linenos="table", full=False))


if __name__ == "__main__":
    workload.run(work, workload.read_input("module.py"))
