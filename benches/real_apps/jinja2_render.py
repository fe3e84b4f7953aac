"""Jinja2: render 700 pages of an order report from templates (a base layout, a macro per
row, filters, loops, groupby, conditionals), 100 generated orders a page, as a web
application does for each request. The context holding a page's orders is passed into the
compiled template's render functions."""
import random

from jinja2 import DictLoader, Environment

import workload

TEMPLATES = {
    "base.html": """<!doctype html>
<html><head><title>{% block title %}{% endblock %}</title></head>
<body>{% block body %}{% endblock %}</body></html>
""",
    "macros.html": """{% macro order_row(order, loop) -%}
<tr class="{{ loop.cycle('odd', 'even') }}{% if order.total > 900 %} big{% endif %}">
  <td>{{ order.id }}</td><td>{{ order.customer | title | e }}</td>
  <td>{{ order['items'] | map(attribute='name') | join(', ') | truncate(40) }}</td>
  <td>{{ '%.2f' | format(order.total) }}</td>
  <td>{% for tag in order.tags | sort %}<span>{{ tag | upper }}</span>{% endfor %}</td>
</tr>
{%- endmacro %}
""",
    "report.html": """{% extends "base.html" %}
{% from "macros.html" import order_row %}
{% block title %}Orders for {{ shop | e }}{% endblock %}
{% block body %}
<h1>{{ orders | length }} orders, {{ orders | sum(attribute='total') | round(2) }} in all</h1>
{% for region, group in orders | groupby('region') %}
<h2>{{ region | capitalize }} ({{ group | length }})</h2>
<table>
{% for order in group %}{{ order_row(order, loop) }}
{% endfor %}
</table>
{% endfor %}
{% endblock %}
""",
}

ORDERS = 70000
PAGE = 100


def orders(count=ORDERS, seed=13):
    rng = random.Random(seed)
    names = ["ada lovelace", "alan turing", "grace hopper", "edsger dijkstra", "barbara liskov",
             "donald knuth", "frances allen", "ken thompson", "<script>x</script>"]
    regions = ("north", "south", "east", "west")
    catalog = [{"name": "item-%d" % i, "price": round(rng.random() * 100, 2)}
               for i in range(1000)]
    tag_sets = [rng.sample(["new", "gift", "rush", "vip", "late", "bulk"], 3) for _ in range(40)]
    result = []
    for i in range(count):
        r = rng.random
        items = [catalog[int(r() * 1000)] for _ in range(1 + int(r() * 6))]
        result.append({"id": i, "customer": names[int(r() * 9)], "items": items,
                       "total": r() * 1000, "region": regions[int(r() * 4)],
                       "tags": tag_sets[int(r() * 40)]})
    return result


def work(data):
    environment = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
    template = environment.get_template("report.html")
    pages = []
    for start in range(0, len(data), PAGE):
        pages.append(template.render(shop="Example & Co", orders=data[start:start + PAGE]))
    return "".join(pages)


if __name__ == "__main__":
    workload.run(work, orders())
