"""pycparser: parse a generated C file of 4,000 functions and walk its AST, as a code
analysis tool does: list the functions with their parameters and count the calls each makes.
The parser (`CParser`) holds the lexer, the token stream and the scope stack while its
methods build the tree."""
from pycparser import c_ast, c_parser

import workload


class FunctionSummary(c_ast.NodeVisitor):
    def __init__(self):
        self.functions = []
        self.calls = 0

    def visit_FuncDef(self, node):
        params = node.decl.type.args.params if node.decl.type.args else []
        before = self.calls
        self.generic_visit(node)
        self.functions.append((node.decl.name, len(params), self.calls - before))

    def visit_FuncCall(self, node):
        self.calls += 1
        self.generic_visit(node)


def work(source):
    ast = c_parser.CParser().parse(source, "functions.c")
    summary = FunctionSummary()
    summary.visit(ast)
    return (len(ast.ext), summary.calls, summary.functions)


if __name__ == "__main__":
    workload.run(work, workload.read_input("functions.c"))
