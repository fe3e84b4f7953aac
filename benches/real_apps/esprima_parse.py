"""esprima: parse a generated 360 KB JavaScript file (functions, classes, arrow functions,
template literals, spread) into an ESTree AST with locations, and count its node types, as
a linter or bundler does. The parser object holds the scanner and the source while its
methods build the tree."""
import esprima

import workload


def work(source):
    counts = {}

    def count(node, metadata):
        counts[node.type] = counts.get(node.type, 0) + 1

    esprima.parseScript(source, {"loc": True, "range": True}, count)
    return sorted(counts.items())


if __name__ == "__main__":
    workload.run(work, workload.read_input("widgets.js"))
