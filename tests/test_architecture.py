"""Imports run one way: from the command line down to the layers.

The package's imports (module-level and inside functions) form a graph
that must have no cycle, and no module may import one of a higher layer
(`LAYERS`, lowest first; the README's table says the same).
"""

import ast
import pathlib

import keras_attn

ROOT = pathlib.Path(keras_attn.__file__).parent

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS = [
    ("base", ["keras_attn._lazy", "keras_attn.validation", "keras_attn.integrity", "keras_attn.quiet",
              "keras_attn.progress", "keras_attn.staging", "keras_attn.schema"]),
    ("tokenizers and layers", ["keras_attn.tokenizers", "keras_attn.layers"]),
    ("data, search and scoring", ["keras_attn.data", "keras_attn.inference", "keras_attn.training.metrics",
                                  "keras_attn.training.schedules", "keras_attn.training.distribution",
                                  "keras_attn.training.time_limit", "keras_attn.training.epoch_log",
                                  "keras_attn.training.scoring", "keras_attn.training.resume",
                                  "keras_attn.runtime"]),
    ("models", ["keras_attn.models", "keras_attn.saving"]),
    ("zoo", ["keras_attn.zoo"]),
    ("run directories", ["keras_attn.run_directory"]),
    ("recipes, translation and export", ["keras_attn.training", "keras_attn.inference.translation", "keras_attn.checkpoints",
                                         "keras_attn.export"]),
    ("command line", ["keras_attn.cli", "keras_attn"]),
]


def module_names():
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = ["keras_attn", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph():
    """`{module: {modules it imports}}` over the package, function-level imports included."""
    modules = module_names()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                # `from package import module` imports the module; `from module import name`, the module.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def layer_of(module):
    best = max((prefix for _, prefixes in LAYERS for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), key=len)
    return next(i for i, (_, prefixes) in enumerate(LAYERS) if best in prefixes)


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph):
    return sorted((source, target) for source, targets in graph.items() for target in targets
                  if layer_of(target) > layer_of(source))


def test_the_package_imports_have_no_cycle_and_only_go_down():
    graph = import_graph()
    assert len(graph) > 60 and graph["keras_attn.cli"]  # the walk found the package and its imports
    assert cycles(graph) == []
    assert upward_imports(graph) == []


def test_the_checks_fail_on_a_cycle_and_on_an_upward_import():
    graph = import_graph()
    graph["keras_attn.layers.feed_forward"].add("keras_attn.models.task")  # layers → models: upward
    assert ("keras_attn.layers.feed_forward", "keras_attn.models.task") in upward_imports(graph)
    graph["keras_attn.models.task"].add("keras_attn.zoo")  # zoo imports models, which would import zoo
    assert any({"keras_attn.models.task", "keras_attn.zoo"} <= set(component) for component in cycles(graph))


def test_function_level_imports_count():
    # keras_attn.load_model imports the saving module inside the function.
    assert "keras_attn.saving" in import_graph()["keras_attn"]
