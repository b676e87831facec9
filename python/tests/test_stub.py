"""The .pyi stub names every public name of the extension, and every name has a docstring."""
import ast
from pathlib import Path

import umpager
from umpager import _umpager

STUB = Path(umpager.__file__).with_name("_umpager.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name if isinstance(n, ast.FunctionDef) else n.target.id
                                for n in node.body if isinstance(n, (ast.FunctionDef, ast.AnnAssign))}
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = set()
    return names


def test_every_public_name_is_in_the_stub_with_a_docstring():
    names = stub_names()
    for name in dir(_umpager):
        if name.startswith("_"):
            continue
        assert name in names, f"{name} is not in {STUB.name}"
        obj = getattr(_umpager, name)
        if isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"
            for member in vars(obj):  # its own members, not inherited ones
                if member.startswith("_"):
                    continue
                assert member in names[name], f"{name}.{member} is not in the stub"
                assert getattr(obj, member).__doc__, f"{name}.{member} has no docstring"
    for name in umpager.__all__:
        assert hasattr(umpager, name)
