"""`--tools FILE.py` or `--tools module:attr`: plain typed functions from user code become a ToolSet.
Every way this can go wrong ends in one BadInputError line that says what to fix."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rejoinder.errors import BadInputError
from rejoinder.tools.tool import DEFAULT_TIMEOUT_S, Tool
from rejoinder.tools.toolset import ToolSet


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise BadInputError(f"tools file {str(path)!r} does not exist")
    resolved = path.resolve()
    name = f"rejoinder_user_tools_{hashlib.sha1(str(resolved).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise BadInputError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing resolve names through sys.modules
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise BadInputError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise BadInputError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise BadInputError(f"tools module {name!r} cannot be found ({exc})") from None
    except SyntaxError as exc:
        raise BadInputError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise BadInputError(
            f"tools module {name!r}: importing it raised {type(exc).__name__}: {exc}"
        ) from None


def _public_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """Functions defined in the module itself (not imported), not starting with '_'; `TOOLS` if it has one."""
    listed = getattr(module, "TOOLS", None)
    if listed is not None:
        return list(listed)
    return [
        obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]


def _as_toolset(value: Any, where: str, timeout_s: float) -> ToolSet:
    if isinstance(value, ToolSet):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not callable(item):
            raise BadInputError(f"{where}: {item!r} is not a function")
    return ToolSet(
        item if isinstance(item, Tool) else Tool.from_function(item, timeout_s=timeout_s) for item in items
    )


def load_tools(spec: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> ToolSet:
    """`path/to/tools.py` (its public functions, or its TOOLS list), `module:attr` (a function, a list
    or dict of functions, or a ToolSet), or `module` (its public functions)."""
    if not spec.strip():
        raise BadInputError("--tools needs FILE.py or module:attr")
    if spec.endswith(".py") or "/" in spec:
        module, where = _import_file(Path(spec)), spec
        functions: Any = _public_functions(module)
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        module, where = _import_module(module_name), spec
        if not attr or not hasattr(module, attr):
            raise BadInputError(f"{spec}: module {module_name!r} has no attribute {attr!r}")
        functions = getattr(module, attr)
    else:
        module, where = _import_module(spec), spec
        functions = _public_functions(module)
    if isinstance(functions, list) and not functions:
        raise BadInputError(f"{where}: defines no public functions to use as tools")
    return _as_toolset(functions, where, timeout_s)


def session_tools(specs: list[str], builtins: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S) -> ToolSet:
    """What `--tools SPEC` (repeatable) gives a session: the built-ins plus each SPEC's tools; a name
    defined twice is an error, never a silent override."""
    tools = ToolSet.builtins(timeout_s) if builtins else ToolSet()
    for spec in specs:
        tools = tools.merged(load_tools(spec, timeout_s))
    return tools
