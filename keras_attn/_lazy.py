"""Lazy submodules: `package.name` imports `package/name.py` on first use, so
importing a package stays light and TensorFlow-only modules load only when asked for."""

import importlib


def submodules(package, names):
    """`(__getattr__, __dir__)` for `package`'s `__init__`, serving `names` lazily."""

    def __getattr__(name):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__
