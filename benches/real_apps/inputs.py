"""The inputs of the real-application workloads, generated instead of committed.

Each input is made by a seeded `random.Random`, so the same name always gives the same
text, byte for byte, on any machine and Python 3.9+: the workloads' checksums can be compared
between runs and between machines. The sizes are chosen so that each workload takes 2-6 s
alone with CPython 3.11 on a 2-core machine of this project's kind; change a size here, in
one place, and the bench's expected timings move with it.

    python inputs.py DIR [NAME...]   writes each input (all by default) to DIR/NAME
    python inputs.py --list          the input names and sizes

A workload run without an input path makes its input in memory with `make(NAME)`.
"""
import os
import random
import sys

# Words for prose: common English words, some long, so that wrapped paragraphs, emphasis
# and links look like a real document's.
WORDS = (
    "the of and to in is that for it as with was on be by this are from at an or have not "
    "which but all one their there can were been has more when will would about some into "
    "other than then only these two its also over after first most such where through "
    "between parser render document function argument profile sample process interpreter "
    "performance measurement configuration structure sequence compiler allocation boundary "
    "conversion estimate candidate extension package module library version release value "
    "table column section paragraph heading reference example comment language grammar "
    "token stream buffer memory thread signal handler network request response server "
    "client cache index record schema query result filter window timestamp"
).split()

IDENTIFIERS = (
    "count total index value result buffer node item key offset length width height name "
    "size limit start stop step data state entry level depth score weight flag mode acc "
    "left right first last prev next head tail base top row col"
).split()


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def sentence(rng, lo=6, hi=18):
    text = words(rng, rng.randint(lo, hi))
    return text[0].upper() + text[1:] + "."


def ident(rng):
    return rng.choice(IDENTIFIERS) + "_" + str(rng.randint(0, 99))


# --- C, for pycparser: preprocessed C (no #include, no #define), as pycparser wants it.

C_FUNCTIONS = 4000


def c_source(functions=C_FUNCTIONS, seed=1):
    rng = random.Random(seed)
    out = []
    structs = 40
    for s in range(structs):
        out.append(
            "typedef struct node_%d {\n  int key;\n  double weight;\n  char label[%d];\n"
            "  struct node_%d *next;\n  unsigned long flags;\n} node_%d_t;\n"
            % (s, rng.choice((8, 16, 32)), s, s))
    out.append("static const int table[16] = {%s};\n"
               % ", ".join(str(rng.randint(-100, 100)) for _ in range(16)))
    out.append("extern int printf(const char *fmt, ...);\n")
    for f in range(functions):
        s = rng.randrange(structs)
        kind = rng.randrange(5)
        if kind == 0:
            block = (
                "  for (i = 0; i < b; i++) {\n"
                "    if (acc %% %d == 0)\n      acc += table[i & 15] ^ i;\n"
                "    else\n      acc -= (a << %d) | i;\n  }\n"
                % (rng.randint(2, 9), rng.randint(1, 4)))
        elif kind == 1:
            block = ("  while (n != 0 && n->key < acc) {\n"
                     "    acc += (int)(n->weight * %d.5);\n    n = n->next;\n  }\n"
                     % rng.randint(1, 9))
        elif kind == 2:
            block = ("  switch (acc & 3) {\n  case 0:\n    acc = func_%d(acc, b - 1, n);\n"
                     "    break;\n  default:\n    acc ^= %d;\n  }\n"
                     % (rng.randrange(f) if f else 0, rng.randint(1, 1 << 16)))
        elif kind == 3:
            block = ("  if (n != 0 && (n->flags & 0x%x)) {\n"
                     "    printf(\"%%s %%d\\n\", n->label, acc);\n    return n->key;\n  }\n"
                     % rng.randint(1, 0xffff))
        else:
            block = ("  do {\n    acc = (acc * 1103515245 + 12345) %% %d;\n"
                     "  } while (acc > %d && --b > 0);\n"
                     % (rng.randint(1000, 99999), rng.randint(10, 999)))
        out.append("int func_%d(int a, int b, node_%d_t *n)\n{\n  int i, acc = a * %d + b;\n"
                   "%s  return acc > 0 ? acc : -acc;\n}\n"
                   % (f, s, rng.randint(2, 97), block))
    return "\n".join(out)


# --- Markdown, for Python-Markdown and mistune.

MARKDOWN_SECTIONS = 2200


def inline_text(rng, marks, n=40):
    """A sentence of `n` words, some marked up: `marks` lists (cumulative probability,
    markup), where markup(rng, word) returns the word marked up."""
    parts = []
    for _ in range(n):
        word = rng.choice(WORDS)
        roll = rng.random()
        for upto, mark in marks:
            if roll < upto:
                word = mark(rng, word)
                break
        parts.append(word)
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


MARKDOWN_MARKS = [
    (0.04, lambda rng, w: "*%s*" % w),
    (0.07, lambda rng, w: "**%s**" % w),
    (0.10, lambda rng, w: "`%s()`" % w),
    (0.12, lambda rng, w: "[%s](https://example.org/%s/%d)"
     % (w, rng.choice(WORDS), rng.randint(1, 999))),
    (0.13, lambda rng, w: "%s & <%s>" % (w, rng.choice(WORDS))),
]


def inline_markdown(rng, n=40):
    return inline_text(rng, MARKDOWN_MARKS, n)


def markdown_document(sections=MARKDOWN_SECTIONS, seed=2):
    rng = random.Random(seed)
    out = ["# %s\n" % words(rng, 5).title()]
    for s in range(sections):
        out.append("## %d. %s\n" % (s + 1, words(rng, rng.randint(2, 6)).title()))
        for _ in range(rng.randint(1, 3)):
            out.append(inline_markdown(rng, rng.randint(20, 70)) + "\n")
        kind = s % 6
        if kind == 0:
            for _ in range(rng.randint(3, 8)):
                out.append("- %s" % inline_markdown(rng, rng.randint(4, 14)))
                if rng.random() < 0.3:
                    out.append("    1. %s" % inline_markdown(rng, rng.randint(3, 8)))
            out.append("")
        elif kind == 1:
            out.append("```python\ndef %s(%s):\n    return %s + %d\n```\n" % (
                ident(rng), ident(rng), ident(rng), rng.randint(0, 99)))
        elif kind == 2:
            out.append("| name | count | note |\n| --- | ---: | --- |")
            for _ in range(rng.randint(3, 10)):
                out.append("| %s | %d | %s |" % (ident(rng), rng.randint(0, 10000),
                                                  words(rng, rng.randint(2, 6))))
            out.append("")
        elif kind == 3:
            out.append("> %s\n>\n> %s\n" % (inline_markdown(rng, 25),
                                               inline_markdown(rng, 15)))
        elif kind == 4:
            out.append("### %s\n" % words(rng, 3).title())
            out.append("    %s = %s(%d)\n" % (ident(rng), ident(rng), rng.randint(0, 9)))
        else:
            out.append("%s[^%d]\n\n[^%d]: %s\n" % (inline_markdown(rng, 15), s, s,
                                                   sentence(rng)))
    return "\n".join(out) + "\n"


# --- reStructuredText, for docutils.

RST_SECTIONS = 880


RST_MARKS = [
    (0.04, lambda rng, w: "*%s*" % w),
    (0.07, lambda rng, w: "**%s**" % w),
    (0.10, lambda rng, w: "``%s()``" % w),
    (0.12, lambda rng, w: "`%s <https://example.org/%d>`__" % (w, rng.randint(1, 999))),
]


def inline_rst(rng, n=40):
    return inline_text(rng, RST_MARKS, n)


def rst_document(sections=RST_SECTIONS, seed=3):
    rng = random.Random(seed)
    title = words(rng, 4).title()
    out = ["=" * len(title), title, "=" * len(title), "", ".. contents::", ""]
    for s in range(sections):
        heading = "%d %s" % (s + 1, words(rng, rng.randint(2, 5)).title())
        out += [heading, "-" * len(heading), ""]
        for _ in range(rng.randint(1, 3)):
            out += [inline_rst(rng, rng.randint(20, 60)), ""]
        kind = s % 5
        if kind == 0:
            for _ in range(rng.randint(3, 8)):
                out.append("* %s" % inline_rst(rng, rng.randint(4, 12)))
            out.append("")
        elif kind == 1:
            out += ["Example::", "", "    %s = %s(%d)" % (ident(rng), ident(rng),
                                                          rng.randint(0, 9)),
                    "    return %s" % ident(rng), ""]
        elif kind == 2:
            out += ["=========== ======= ========", "name        count   unit",
                    "=========== ======= ========"]
            for _ in range(rng.randint(3, 8)):
                out.append("%-11s %-7d %-8s" % (ident(rng)[:11], rng.randint(0, 99999),
                                                rng.choice(("s", "ms", "bytes", "calls"))))
            out += ["=========== ======= ========", ""]
        elif kind == 3:
            out += [".. note::", "", "   %s" % inline_rst(rng, 20), ""]
        else:
            for i in range(rng.randint(2, 5)):
                out.append("%d. %s" % (i + 1, inline_rst(rng, rng.randint(4, 10))))
            out.append("")
    return "\n".join(out) + "\n"


# --- Python source, for pygments.

PYTHON_CLASSES = 600


def python_source(classes=PYTHON_CLASSES, seed=4):
    rng = random.Random(seed)
    out = ['"""%s"""' % sentence(rng), "import os", "import sys",
           "from collections import defaultdict", ""]
    for c in range(classes):
        out.append("")
        out.append("@dataclass(frozen=%s)" % rng.choice(("True", "False")))
        out.append("class Thing%d(Base%d):" % (c, rng.randint(0, 9)))
        out.append('    """%s"""' % sentence(rng))
        out.append("    LIMIT = %d" % rng.randint(0, 1 << 20))
        for m in range(rng.randint(2, 5)):
            a, b = ident(rng), ident(rng)
            out.append("")
            out.append("    def method_%d(self, %s, %s=%r, *args, **kwargs):" % (
                m, a, b, rng.choice((None, 0, 1.5, "x", True))))
            out.append("        # %s" % sentence(rng))
            out.append("        %s = [%s * %d for %s in range(%d) if %s %% 3]" % (
                ident(rng), a, rng.randint(2, 9), a, rng.randint(1, 100), a))
            out.append("        if %s is not None and len(args) > %d:" % (b, rng.randint(0, 4)))
            out.append("            raise ValueError(f\"bad {%s!r}: %s\")" % (b, words(rng, 3)))
            out.append("        try:")
            out.append("            return {'%s': %s, \"%s\": 0x%x}" % (
                rng.choice(WORDS), a, rng.choice(WORDS), rng.randint(0, 1 << 16)))
            out.append("        except (KeyError, IndexError) as error:")
            out.append("            return lambda x: x ** %d + %.3f  # %s" % (
                rng.randint(2, 5), rng.random(), words(rng, 2)))
    return "\n".join(out) + "\n"


# --- YAML, for PyYAML's pure-Python loader.

YAML_RECORDS = 1900


def yaml_document(records=YAML_RECORDS, seed=5):
    rng = random.Random(seed)
    out = ["# inventory export", "version: 3", "records:"]
    for r in range(records):
        out.append("  - id: %d" % r)
        out.append("    name: \"%s\"" % words(rng, 3))
        out.append("    tags: [%s]" % ", ".join(rng.choice(WORDS) for _ in range(4)))
        out.append("    price: %.2f" % (rng.random() * 1000))
        out.append("    active: %s" % rng.choice(("true", "false", "yes", "no")))
        out.append("    created: 20%02d-%02d-%02d" % (rng.randint(10, 24), rng.randint(1, 12),
                                                      rng.randint(1, 28)))
        out.append("    address:")
        out.append("      street: %d %s Street" % (rng.randint(1, 999), rng.choice(WORDS)))
        out.append("      city: %s" % rng.choice(WORDS).title())
        out.append("      zip: '%05d'" % rng.randint(0, 99999))
        out.append("    scores:")
        for _ in range(rng.randint(1, 4)):
            out.append("      - {kind: %s, value: %d}" % (rng.choice(WORDS), rng.randint(0, 99)))
        out.append("    notes: |")
        out.append("      %s" % sentence(rng))
        out.append("      %s" % sentence(rng))
    return "\n".join(out) + "\n"


# --- SQL, for sqlparse.

SQL_STATEMENTS = 800


def sql_script(statements=SQL_STATEMENTS, seed=6):
    rng = random.Random(seed)
    out = []
    for _ in range(statements):
        kind = rng.randrange(4)
        t1, t2 = rng.choice(IDENTIFIERS) + "s", rng.choice(IDENTIFIERS) + "_log"
        if kind == 0:
            out.append(
                "select a.%s, b.%s, count(*) as n, sum(b.%s * %d) total from %s a "
                "left join %s b on a.id = b.%s_id where a.%s > %d and b.%s in ('%s', '%s') "
                "group by a.%s, b.%s having count(*) > %d order by total desc limit %d;"
                % (ident(rng), ident(rng), ident(rng), rng.randint(1, 9), t1, t2,
                   rng.choice(IDENTIFIERS), ident(rng), rng.randint(0, 999), ident(rng),
                   rng.choice(WORDS), rng.choice(WORDS), ident(rng), ident(rng),
                   rng.randint(1, 9), rng.randint(1, 100)))
        elif kind == 1:
            out.append("insert into %s (%s) values (%s);" % (
                t1, ", ".join(ident(rng) for _ in range(5)),
                ", ".join(str(rng.randint(0, 999)) if rng.random() < 0.5
                          else "'%s'" % words(rng, 2) for _ in range(5))))
        elif kind == 2:
            out.append("update %s set %s = %s + 1, %s = '%s' where id in (select %s_id from %s "
                       "where %s < %d);" % (t1, ident(rng), ident(rng), ident(rng),
                                            rng.choice(WORDS), t1, t2, ident(rng),
                                            rng.randint(0, 99)))
        else:
            out.append("create table if not exists %s_%d (id integer primary key, %s "
                       "varchar(%d) not null, %s numeric(10, 2) default 0, %s timestamp);"
                       % (t2, rng.randint(0, 999), ident(rng), rng.randint(8, 255),
                          ident(rng), ident(rng)))
    return "\n".join(out) + "\n"


# --- JSON, for lark (a JSON grammar, as in lark's own tutorial).

JSON_RECORDS = 450


def json_text(records=JSON_RECORDS, seed=7):
    rng = random.Random(seed)
    items = []
    for r in range(records):
        items.append(
            '{"id": %d, "name": "%s", "score": %.3f, "ok": %s, "parent": null, '
            '"tags": [%s], "pos": {"x": %d, "y": %d}}'
            % (r, words(rng, 2), rng.random() * 100, rng.choice(("true", "false")),
               ", ".join('"%s"' % rng.choice(WORDS) for _ in range(3)),
               rng.randint(-999, 999), rng.randint(-999, 999)))
    return '{"records": [\n  %s\n], "count": %d}\n' % (",\n  ".join(items), records)


# --- TOML, for tomlkit.

TOML_TABLES = 2400


def toml_document(tables=TOML_TABLES, seed=8):
    rng = random.Random(seed)
    out = ['# service configuration', 'title = "%s"' % words(rng, 3), 'version = 7', '']
    for t in range(tables):
        out.append("[[service]]")
        out.append('name = "%s-%d"' % (rng.choice(WORDS), t))
        out.append("port = %d" % rng.randint(1024, 65535))
        out.append("enabled = %s" % rng.choice(("true", "false")))
        out.append("ratio = %.4f" % rng.random())
        out.append("started = 20%02d-%02d-%02dT%02d:%02d:00Z" % (
            rng.randint(10, 24), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
            rng.randint(0, 59)))
        out.append("hosts = [%s]" % ", ".join('"%s.example.org"' % rng.choice(WORDS)
                                              for _ in range(rng.randint(1, 4))))
        out.append('limits = { cpu = %d, memory = "%dMi", burst = %s }' % (
            rng.randint(1, 16), rng.randint(64, 4096), rng.choice(("true", "false"))))
        out.append("")
        out.append("[service.env]")
        for _ in range(rng.randint(1, 4)):
            out.append('%s = "%s"  # %s' % (ident(rng).upper(), words(rng, 2), words(rng, 3)))
        out.append("")
    return "\n".join(out) + "\n"


# --- Text in legacy encodings, for chardet.

CHARDET_KIB = 130


def chardet_texts(kib=CHARDET_KIB, seed=9):
    """Documents in several encodings, as one blob: `encoding\\tlength\\n` headers, each
    followed by its bytes."""
    rng = random.Random(seed)
    cyrillic = [chr(c) for c in range(0x430, 0x450)]
    greek = [chr(c) for c in range(0x3b1, 0x3ca)]
    french = list("abcdefghijklmnopqrstuvwxyz") * 3 + list("éèêàçùôîë")
    kana = [chr(c) for c in range(0x3042, 0x3094)] + list("日本語文字列時間会社学校")

    def prose(alphabet, n, space=" "):
        out = []
        length = 0
        while length < n:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9))))
            length += len(out[-1]) + 1
        return space.join(out)

    documents = [
        ("windows-1251", prose(cyrillic, kib * 1024)),
        ("koi8-r", prose(cyrillic, kib * 1024)),
        ("iso-8859-7", prose(greek, kib * 1024)),
        ("windows-1252", prose(french, kib * 1024)),
        ("shift_jis", prose(kana, kib * 512, space="、")),
        ("euc-jp", prose(kana, kib * 512, space="、")),
    ]
    blob = b""
    for encoding, text in documents:
        data = text.encode(encoding)
        blob += ("%s\t%d\n" % (encoding, len(data))).encode("ascii") + data
    return blob


# --- JavaScript, for esprima.

JS_FUNCTIONS = 1300


def javascript_source(functions=JS_FUNCTIONS, seed=10):
    rng = random.Random(seed)
    out = ["'use strict';"]
    for f in range(functions):
        a, b = ident(rng), ident(rng)
        kind = f % 3
        if kind == 0:
            out.append(
                "function fn%d(%s, %s = %d) {\n  const out = [];\n"
                "  for (let i = 0; i < %s.length; i++) {\n"
                "    if (%s[i] %% %d === 0) { out.push({ key: i, value: %s[i] * %s }); }\n"
                "    else { out.push(`${i}: ${%s[i]}`); }\n  }\n"
                "  return out.filter(x => x !== null).map((x, j) => [j, x]);\n}\n"
                % (f, a, b, rng.randint(0, 9), a, a, rng.randint(2, 7), a, b, a))
        elif kind == 1:
            out.append(
                "class Widget%d extends Base {\n  constructor(%s) {\n    super(%s);\n"
                "    this.%s = { name: '%s', size: %d, items: [1, 2, 3] };\n  }\n"
                "  get size() { return this.%s.size * %d; }\n"
                "  async load(url) {\n    const r = await fetch(url + '/%s');\n"
                "    return r.ok ? r.json() : null;\n  }\n}\n"
                % (f, a, a, b, rng.choice(WORDS), rng.randint(0, 999), b, rng.randint(2, 9),
                   rng.choice(WORDS)))
        else:
            out.append(
                "const handler%d = (%s) => {\n  switch (%s.type) {\n"
                "    case '%s': return { ...%s, count: %s.count + 1 };\n"
                "    case '%s': return Object.assign({}, %s, { done: true });\n"
                "    default: return %s;\n  }\n};\n"
                % (f, a, a, rng.choice(WORDS), a, a, rng.choice(WORDS), a, a))
    return "\n".join(out) + "\n"


# --- Arithmetic expressions, for pyparsing.

EXPRESSIONS = 3000


def expressions(count=EXPRESSIONS, seed=11):
    rng = random.Random(seed)

    def expr(depth):
        if depth == 0 or rng.random() < 0.3:
            roll = rng.random()
            if roll < 0.6:
                return str(rng.randint(1, 99))
            if roll < 0.8:
                return "%d.%d" % (rng.randint(0, 9), rng.randint(0, 99))
            return rng.choice(("x", "y", "z"))
        op = rng.choice(("+", "-", "*", "/", "+", "*"))
        if rng.random() < 0.1:
            return "-(%s)" % expr(depth - 1)
        return "(%s %s %s)" % (expr(depth - 1), op, expr(depth - 1))

    return "\n".join(expr(5) for _ in range(count)) + "\n"


# --- A PNG image saved with adaptive scanline filters, for pypng. pypng itself writes only
# filter type 0; images saved by other tools use all five, and a reader undoes them in Python.

PNG_WIDTH, PNG_HEIGHT = 2560, 1440

# Small residuals, as filtering leaves on a photo: mostly 0 and +-1..3, now and then more.
_RESIDUALS = bytes([0] * 96 + [1] * 40 + [255] * 40 + [2] * 20 + [254] * 20 + [3] * 10
                   + [253] * 10 + list(range(16, 36)))


def png_image(width=PNG_WIDTH, height=PNG_HEIGHT, seed=12):
    """An RGB image whose scanlines use filter types 0-4 in turn; its filtered bytes are
    drawn directly (any bytes are a valid filtered scanline), so making it stays fast."""
    import struct
    import zlib

    rng = random.Random(seed)
    stride = width * 3
    residuals = rng.randbytes(stride * height).translate(_RESIDUALS)
    raw = bytearray()
    for y in range(height):
        raw.append(y % 5)
        raw += residuals[y * stride:(y + 1) * stride]

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))


MAKERS = {
    "functions.c": c_source,
    "document.md": markdown_document,
    "document.rst": rst_document,
    "module.py": python_source,
    "inventory.yaml": yaml_document,
    "statements.sql": sql_script,
    "records.json": json_text,
    "services.toml": toml_document,
    "encodings.bin": chardet_texts,
    "widgets.js": javascript_source,
    "expressions.txt": expressions,
    "photo.png": png_image,
}


def make(name):
    """The input NAME as bytes."""
    made = MAKERS[name]()
    return made if isinstance(made, bytes) else made.encode("utf-8")


def main(argv):
    if argv[1:] == ["--list"]:
        for name in sorted(MAKERS):
            print("%-16s %9d bytes" % (name, len(make(name))))
        return 0
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    folder = argv[1]
    os.makedirs(folder, exist_ok=True)
    for name in argv[2:] or sorted(MAKERS):
        if name not in MAKERS:
            print("error: no input named %s (see --list)" % name, file=sys.stderr)
            return 2
        path = os.path.join(folder, name)
        with open(path + ".tmp", "wb") as out:
            out.write(make(name))
        os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
