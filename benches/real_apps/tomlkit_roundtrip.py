"""tomlkit: parse a generated 600-service TOML configuration, change a value in each
service, and write it back with its comments and layout kept, as a tool that edits
pyproject.toml-like files does. The document container holds every item while it is
parsed, edited and rendered."""
import tomlkit

import workload


def work(text):
    document = tomlkit.parse(text)
    for service in document["service"]:
        service["port"] = service["port"] + 1
        service["env"]["EDITED"] = True
    rendered = tomlkit.dumps(document)
    return rendered + repr(sorted(document.unwrap()["service"][0].items()))


if __name__ == "__main__":
    workload.run(work, workload.read_input("services.toml"))
