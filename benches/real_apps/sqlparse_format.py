"""sqlparse: reformat a script of 1,000 generated SQL statements (reindent, upper-case
keywords) and list the tables each statement names, as a SQL linter or formatter does. Each
statement's token tree is passed to the grouping and filter methods."""
import sqlparse
from sqlparse.sql import Identifier

import workload


def work(sql):
    formatted = sqlparse.format(sql, reindent=True, keyword_case="upper")
    names = []
    for statement in sqlparse.parse(sql):
        names.append((statement.get_type(),
                      [t.get_real_name() for t in statement.tokens if isinstance(t, Identifier)]))
    return formatted + repr(names)


if __name__ == "__main__":
    workload.run(work, workload.read_input("statements.sql"))
