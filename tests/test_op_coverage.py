"""Every op is gradchecked, to the second order: each ``Function`` subclass defined in
deltaflow must be named in the ``GRADCHECKED`` tuple of some ``tests/**/test_*.py`` module
(finite differences and PyTorch for its gradient) and in the ``GRADGRADCHECKED`` tuple of
one (the same for its second derivatives, ``create_graph=True``), by class name or by
``module.Class`` where two ops share a name; every name listed must exist."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import pytest

import deltaflow
from deltaflow.autograd import Function

TESTS = Path(__file__).resolve().parent


def import_all_of_deltaflow():
    """Import every deltaflow module (those needing a missing optional dependency aside)."""
    for info in pkgutil.walk_packages(deltaflow.__path__, "deltaflow."):
        if info.name.endswith(".__main__"):
            continue  # runs the command line
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] == "deltaflow":
                raise
            # e.g. cupy, mpi4py, onnx: that module's ops are then not checked here


def registered_functions():
    """All concrete Function subclasses defined in deltaflow, found recursively."""
    import_all_of_deltaflow()
    found, stack = set(), [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return {cls for cls in found if cls.__module__.startswith("deltaflow.")
            and cls.forward is not Function.forward}


def load_test_module(path):
    """Import a test file the way pytest does (its package, if any, rooted at the first
    folder without ``__init__.py``), reusing the module when pytest already imported it."""
    base, parts = path.parent, [path.stem]
    while (base / "__init__.py").exists():
        parts.insert(0, base.name)
        base = base.parent
    for folder in (str(TESTS), str(base)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    name = ".".join(parts)
    module = sys.modules.get(name)
    if module is not None and Path(module.__file__ or "").resolve() != path:
        name = "_coverage_" + "_".join(path.relative_to(TESTS).with_suffix("").parts)
        module = sys.modules.get(name)
    if module is not None:
        return module
    if "." in name:
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def literal_gradchecked(path, tuple_name="GRADCHECKED"):
    """The tuple read from the source, for a module that skips itself at import."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == tuple_name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return ()


def gradchecked_names(tuple_name="GRADCHECKED"):
    """``{name: test file}`` from that tuple (GRADCHECKED, GRADGRADCHECKED) of every test
    module."""
    names = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS)
        try:
            listed = getattr(load_test_module(path), tuple_name, ())
        except pytest.skip.Exception:
            listed = literal_gradchecked(path, tuple_name)
        except Exception as err:
            raise AssertionError(f"cannot import tests/{rel} to read its {tuple_name}: "
                                 f"{type(err).__name__}: {err}") from err
        for entry in listed:
            names.setdefault(entry if isinstance(entry, str) else entry.__name__, str(rel))
    return names


def covers(name, cls):
    full = f"{cls.__module__}.{cls.__qualname__}"
    return name == cls.__name__ or ("." in name and full.endswith("." + name))


def test_every_function_is_gradchecked():
    names = gradchecked_names()
    missing = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in registered_functions()
                     if not any(covers(n, cls) for n in names))
    assert not missing, ("Function subclasses without a gradcheck case (add a test and list "
                         "the class name in that module's GRADCHECKED tuple): "
                         + ", ".join(missing))


def test_every_function_is_gradgradchecked():
    names = gradchecked_names("GRADGRADCHECKED")
    missing = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in registered_functions()
                     if not any(covers(n, cls) for n in names))
    assert not missing, ("Function subclasses without a second-derivative case (add a "
                         "gradgradcheck and a torch comparison, and list the class name in "
                         "that module's GRADGRADCHECKED tuple): " + ", ".join(missing))


@pytest.mark.parametrize("tuple_name", ["GRADCHECKED", "GRADGRADCHECKED"])
def test_every_gradchecked_name_is_a_function(tuple_name):
    functions = registered_functions()
    unknown = sorted(f"{n} (in tests/{path})" for n, path in gradchecked_names(tuple_name).items()
                     if not any(covers(n, cls) for cls in functions))
    assert not unknown, (f"{tuple_name} names that match no Function subclass: "
                         + ", ".join(unknown))


def test_the_collector_sees_the_core_ops():
    names = {cls.__name__ for cls in registered_functions()}
    assert {"Add", "MatMul", "GetItem", "Softmax", "Split"} <= names
    assert {"Add", "MatMul", "GetItem"} <= set(gradchecked_names())
