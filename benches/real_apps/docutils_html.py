"""docutils: turn a long generated reStructuredText document (sections, lists, tables,
literal blocks, notes, a table of contents) into HTML5, as `rst2html5` does. The document
tree is passed to every transform and visitor."""
from docutils.core import publish_string

import workload

SETTINGS = {
    "embed_stylesheet": False,
    "stylesheet_path": "",
    "report_level": 5,  # quiet: the result is what is compared
    "halt_level": 5,
    "_disable_config": True,
    "datestamp": None,
}


def work(text):
    return publish_string(text, writer_name="html5", settings_overrides=SETTINGS)


if __name__ == "__main__":
    workload.run(work, workload.read_input("document.rst"))
