"""pyparsing: parse 2,000 generated arithmetic expressions with an `infix_notation` grammar
(packrat on, as its docs advise for such grammars) and evaluate them, as a calculator or a
formula field does. Each parse passes the whole input string and the parser elements'
state between methods."""
import operator

import pyparsing as pp

import workload

pp.ParserElement.enable_packrat()

VARIABLES = {"x": 3.0, "y": -2.0, "z": 0.5}
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def grammar():
    number = pp.pyparsing_common.number
    variable = pp.one_of("x y z")
    operand = number | variable
    return pp.infix_notation(operand, [
        (pp.Literal("-"), 1, pp.OpAssoc.RIGHT),
        (pp.one_of("* /"), 2, pp.OpAssoc.LEFT),
        (pp.one_of("+ -"), 2, pp.OpAssoc.LEFT),
    ])


def evaluate(node):
    if isinstance(node, str):
        return VARIABLES[node]
    if not isinstance(node, pp.ParseResults):
        return float(node)
    items = list(node)
    if len(items) == 2 and items[0] == "-":
        return -evaluate(items[1])
    value = evaluate(items[0])
    for op, operand in zip(items[1::2], items[2::2]):
        right = evaluate(operand)
        value = OPERATORS[op](value, right) if (op != "/" or right) else float("inf")
    return value


def work(text):
    expression = grammar()
    total = []
    for line in text.splitlines():
        total.append(round(evaluate(expression.parse_string(line, parse_all=True)[0]), 6))
    return total


if __name__ == "__main__":
    workload.run(work, workload.read_input("expressions.txt"))
