"""Imports that run against the layers (low -> high), with file:line; pyproject.toml's
[tool.importlinter] layers contract is the enforced one (`lint-imports`)."""
import grimp, collections
g = grimp.build_graph("app")
order = [  # low -> high
 ["app.estimators","app.scaling","app.rules","app.formatting","app.errors","app.csv_export","app.logging",
  "app.names","app.assumption_labels","app.report_format","app.frameworks"],
 ["app.config"],["app.db"],["app.audit"],["app.web"],["app.auth"],["app.auditlog"],["app.jobs"],["app.catalog"],["app.rulesets"],
 ["app.deployments"],["app.estimates"],["app.lab"],["app.assessments"],["app.portfolios"],["app.governance"],
 ["app.models","app.api","app.views","app.dashboard","app.demo","app.operator_cli","app.cli","app.main",
  "app.seed","app.worker","app.job_kinds"],
]
lvl={p:i for i,ps in enumerate(order) for p in ps}
pk=lambda m: ".".join(m.split(".")[:2])
viol=collections.Counter(); det=collections.defaultdict(list)
for m in g.modules:
    for imp in g.find_modules_directly_imported_by(m):
        a,b=pk(m),pk(imp)
        if not imp.startswith("app.") or a==b: continue
        if lvl.get(b,99)>lvl.get(a,99) or (lvl[a]==lvl[b] and a!=b and lvl[a]!=0 and lvl[a]!=len(order)-1):
            for d in g.get_import_details(importer=m, imported=imp):
                viol[(a,b)]+=1; det[(a,b)].append(f"{m}:{d['line_number']} {d['line_contents']}")
print(sum(viol.values()))
for k,v in sorted(viol.items()):
    print(k,v)
    for x in det[k]: print("    ",x)
