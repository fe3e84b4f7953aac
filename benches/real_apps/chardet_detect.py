"""chardet: detect the encoding of six generated documents in legacy encodings (Cyrillic,
Greek, Western European, Japanese), as a crawler or a file importer does with
`chardet.detect`. Each document's bytes are passed to every prober."""
import chardet

import workload


def documents(blob):
    out = []
    while blob:
        header, _, rest = blob.partition(b"\n")
        encoding, length = header.decode("ascii").split("\t")
        out.append((encoding, rest[:int(length)]))
        blob = rest[int(length):]
    return out


def work(docs):
    results = []
    for encoding, data in docs:
        found = chardet.detect(data)
        results.append((encoding, found["encoding"], round(found["confidence"], 6)))
    return results


if __name__ == "__main__":
    workload.run(work, documents(workload.read_input("encodings.bin", binary=True)))
