"""The shape of the package: no import cycle in ``mmdld``, and nothing in it that depends on
the repository's scripts (``tools/``, ``demo/``)."""
import ast
import os
import os.path as osp
import re
from typing import Dict, Iterator, List, Set, Tuple

from helpers import REPO_ROOT

PACKAGE = 'mmdld'
#: A path into the repository's script folders, as code would name it (``configs/demo/`` is not
#: one).
SCRIPT_PATH = re.compile(r'(^|[^\w./])(tools|demo)/[\w./-]*')


def package_modules() -> Dict[str, str]:
    """Module name -> file of every module of the package (hidden folders such as ``.mim``,
    where ``setup.py`` links the scripts, are not the package's code)."""
    modules = {}
    for dirpath, dirnames, filenames in os.walk(osp.join(REPO_ROOT, PACKAGE)):
        dirnames[:] = [d for d in dirnames if not d.startswith(('.', '__'))]
        for filename in filenames:
            if filename.endswith('.py'):
                parts = osp.relpath(osp.join(dirpath, filename), REPO_ROOT)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                modules['.'.join(parts)] = osp.join(dirpath, filename)
    return modules


def imported_names(name: str, path: str) -> Iterator[str]:
    """Every module name that a module imports, at any depth (functions included), absolute."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(parent + ([node.module] if node.module else []))
            yield base
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one.
            yield from (f'{base}.{alias.name}' for alias in node.names)


def import_graph() -> Dict[str, Set[str]]:
    """Module -> the modules of the package it imports (each name mapped to its module)."""
    modules = package_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(name, path):
            while imported and imported not in modules:
                imported = imported.rpartition('.')[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle of ``graph`` (``[a, b, ..., a]``), or ``[]`` when it is acyclic."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': set()}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) == []


def test_the_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert 'mmdld.utils.setup_env' in graph['mmdld.utils']
    # Imported inside register_all_modules.
    assert 'mmdld.models' in graph['mmdld.utils.setup_env']


def test_mmdld_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, 'import cycle: ' + ' -> '.join(cycle)


def _code_strings(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """String constants of a module other than docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], 'value', None), ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(
                node) not in docstrings:
            yield node.lineno, node.value


def test_mmdld_does_not_depend_on_the_repository_scripts():
    problems = []
    for name, path in package_modules().items():
        for imported in imported_names(name, path):
            if imported.split('.')[0] in ('tools', 'demo', 'experiments'):
                problems.append(f'{path}: imports {imported}')
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for line, text in _code_strings(tree):
            if SCRIPT_PATH.search(text):
                problems.append(f'{path}:{line}: names a script path in {text!r}')
    assert not problems, '\n'.join(problems)
