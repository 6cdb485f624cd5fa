"""percpu-mc: a model checker for the Linux percpu allocator and a checker
for its ftrace logs. The top-level folders model/, checker/, traces/ and
specs/ are installed as this one package (pyproject.toml, package-dir)."""
