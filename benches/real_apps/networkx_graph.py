"""networkx: on a 10,000-node scale-free graph, estimate betweenness centrality from 50
sources, find the k-cores, the clustering and the shortest paths from the most central node,
as a network analysis does. The graph (nested adjacency dicts) is passed to every algorithm."""
import networkx as nx

import workload

NODES = 10000


def build():
    return nx.barabasi_albert_graph(NODES, 3, seed=42)


def work(graph):
    betweenness = nx.betweenness_centrality(graph, k=50, seed=7)
    top = sorted(betweenness, key=lambda node: (-betweenness[node], node))[:10]
    cores = nx.core_number(graph)
    lengths = nx.single_source_shortest_path_length(graph, top[0])
    clustering = nx.average_clustering(graph)
    return (top, [round(betweenness[node], 9) for node in top], sorted(cores.values())[-10:],
            sum(lengths.values()), round(clustering, 9))


if __name__ == "__main__":
    workload.run(work, build())
