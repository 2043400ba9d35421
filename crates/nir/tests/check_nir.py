"""Loads a NIR file with Python's reference `nir` package and prints what it
found (used by `export.rs`): node count, node types and shapes, edges."""
import sys

import nir

graph = nir.read(sys.argv[1])
print(f"nodes {len(graph.nodes)}")
print(f"edges {len(graph.edges)}")
for name, node in graph.nodes.items():
    shape = tuple(node.weight.shape) if hasattr(node, "weight") else ""
    print(name, type(node).__name__, shape)
assert isinstance(graph.nodes["conv1"], nir.Conv2d)
assert isinstance(graph.nodes["lif1"], nir.IF)
assert isinstance(graph.nodes["fc1"], nir.Affine)
assert isinstance(graph.nodes["integrator"], nir.I)
assert ("fc2", "integrator") in graph.edges
