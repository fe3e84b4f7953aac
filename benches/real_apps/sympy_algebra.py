"""SymPy: expand and factor polynomials, simplify trigonometric and rational expressions,
integrate and take series, as a computer-algebra session does. Expression trees are passed
to every method."""
import sympy
from sympy import cos, exp, sin, symbols

import workload


def work():
    x, y, z = symbols("x y z")
    results = []
    product = sympy.expand((x + y + z + 1) ** 10 * (x - y + 2) ** 3)
    results.append(len(product.args))
    results.append(sympy.factor(sympy.expand((x + 2 * y) ** 5 * (x - z) ** 4 * (y + 3))))
    results.append(sympy.simplify(sin(x) ** 4 - cos(x) ** 4 + cos(2 * x)))
    results.append(sympy.simplify((x ** 3 + x ** 2 - x - 1) / (x ** 2 + 2 * x + 1)))
    results.append(sympy.integrate(x ** 3 * exp(2 * x) * sin(x), x))
    results.append(sympy.series(exp(sin(x)) / (1 - x), x, 0, 10))
    fraction = (5 * x ** 2 + 3 * x - 1) / ((x - 1) * (x + 2) ** 2 * (x ** 2 + 1))
    results.append(sympy.apart(fraction, x))
    return [str(r) for r in results]


if __name__ == "__main__":
    workload.run(work)
