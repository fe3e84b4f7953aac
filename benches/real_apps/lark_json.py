"""Lark: parse a generated JSON document with a JSON grammar and lark's default Earley
parser, then turn the tree into Python values with a Transformer, as lark's own tutorial
does. The Earley parser holds the columns of its chart while it works."""
from lark import Lark, Transformer

import workload

GRAMMAR = r"""
    ?value: object
          | array
          | string
          | SIGNED_NUMBER      -> number
          | "true"             -> true
          | "false"            -> false
          | "null"             -> null

    array  : "[" [value ("," value)*] "]"
    object : "{" [pair ("," pair)*] "}"
    pair   : string ":" value

    string : ESCAPED_STRING

    %import common.ESCAPED_STRING
    %import common.SIGNED_NUMBER
    %import common.WS
    %ignore WS
"""


class ToPython(Transformer):
    def string(self, items):
        return items[0][1:-1]

    def number(self, items):
        return float(items[0])

    def array(self, items):
        return list(items)

    def pair(self, items):
        return tuple(items)

    def object(self, items):
        return dict(items)

    def true(self, _):
        return True

    def false(self, _):
        return False

    def null(self, _):
        return None


def work(text):
    parser = Lark(GRAMMAR, start="value")
    tree = parser.parse(text)
    return ToPython().transform(tree)


if __name__ == "__main__":
    workload.run(work, workload.read_input("records.json"))
