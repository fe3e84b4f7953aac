"""PyYAML: load a 750 KB generated inventory document with the pure-Python `yaml.Loader`
(the loader every PyYAML install has, the C one needing libyaml), as a configuration tool
does. The loader object holds the scanner's tokens, the parser's events and the node graph."""
import json

import yaml

import workload


def work(text):
    data = yaml.load(text, Loader=yaml.Loader)
    return json.dumps(data, sort_keys=True, default=str)


if __name__ == "__main__":
    workload.run(work, workload.read_input("inventory.yaml"))
