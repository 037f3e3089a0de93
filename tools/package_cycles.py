import grimp, itertools, collections, sys
g = grimp.build_graph("app")
pk = lambda m: ".".join(m.split(".")[:2])
edges = collections.defaultdict(set)
for m in g.modules:
    for imp in g.find_modules_directly_imported_by(m):
        if imp.startswith("app.") and pk(imp)!=pk(m):
            edges[pk(m)].add(pk(imp))
mutual = sorted({tuple(sorted((a,b))) for a in edges for b in edges[a] if a in edges.get(b,())})
print("mutual pairs", len(mutual)); [print(" ",p) for p in mutual]
# SCCs
import networkx as nx
G = nx.DiGraph([(a,b) for a in edges for b in edges[a]])
sccs=[s for s in nx.strongly_connected_components(G) if len(s)>1]
print("SCCs", [sorted(s) for s in sccs])
print("simple cycles (cap 2000):", sum(1 for _ ,__ in zip(range(2000), nx.simple_cycles(G))))
for a in sorted(edges): print(a, "->", sorted(edges[a]))
