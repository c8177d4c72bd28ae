"""What a published vLLM wheel declares, read from its Python sources as a zip archive.

vLLM is never imported (that pulls in torch and CUDA): its modules are parsed with
:mod:`ast`, and only literal facts are taken, which is what makes the reading reliable
across releases that moved files around:

* CLI flags: every ``"--flag"`` string given to an ``add_argument`` call in the engine and
  frontend argument modules, plus the fields of the frontend argument dataclasses (vLLM
  turns ``host`` into ``--host``); with the literal ``default=`` where one is given.
* ``--quantization`` choices: the ``QuantizationMethods`` Literal, and the deprecated list.
* ``--dtype`` choices: the ``ModelDType`` Literal.
* Prometheus metrics of the V1 engine's stat logger: ``name=`` of each gauge, counter and
  histogram it creates (a literal, or a literal the function assigned to the name), a
  histogram's ``buckets=`` resolved through a literal list, a local variable, or vLLM's
  bucket-family table, and its ``labelnames=`` resolved the same way (a list, a local
  variable, ``a + [...]``). An info gauge (``vllm:cache_config_info``) is labelled with its
  config's fields (``metrics_info()`` is the config's ``__dict__``) plus the keys the
  logger adds to that dict (``engine``): ``INFO_METRIC_CONFIGS`` says which config.
* HTTP routes: first arguments of ``get``/``post``/``api_route``/``Mount``/``Route`` calls.
* What it logs (:mod:`forescale.vllm_contract.wheel_logs`): the line format and the
  logger calls of the modules the sim-server's log lines come from.
* Engine config defaults that a flag's ``add_argument`` takes from a config dataclass
  (``**cache_kwargs[...]``): the field's literal default, ``x: T = v`` or
  ``x: T = Field(default=v, ...)``, in ``CONFIG_DEFAULTS``' classes.

Where vLLM hides a fact behind code this reader cannot evaluate, the fact is *unresolved*
(None), and the checks report that rather than guessing.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from forescale.vllm_contract.source_ast import call_name, calls_in, module_assignment
from forescale.vllm_contract.wheel_logs import LogFacts, read_logs

ARG_MODULES = ("vllm/engine/arg_utils.py",)
"""Engine arguments; frontend arguments are every ``vllm/entrypoints/**/cli_args.py``."""
QUANTIZATION_MODULE = "vllm/model_executor/layers/quantization/__init__.py"
DTYPE_MODULES = ("vllm/config/model.py", "vllm/config/__init__.py")
METRICS_MODULE = "vllm/v1/metrics/loggers.py"
BUCKETS_MODULE = "vllm/v1/metrics/buckets.py"
CONFIG_MODULES = ("vllm/config/cache.py", "vllm/config/__init__.py", "vllm/config.py")
CONFIG_DEFAULTS = (
    ("CacheConfig", "gpu_memory_utilization"),
    ("CacheConfig", "DEFAULT_BLOCK_SIZE"),
)
"""Config fields whose defaults the checks (and the docs' tests) use, as ``"Class.field"``."""
INFO_METRIC_CONFIGS = {"vllm:cache_config_info": "CacheConfig"}
"""Info gauges and the config class whose fields are their labels: the logger's
``log_metrics_info("cache_config", self.vllm_config.cache_config)`` (0.10.1 to 0.34.0)."""
_KINDS = {"_gauge_cls": "gauge", "_counter_cls": "counter", "_histogram_cls": "histogram"}
_ROUTE_CALLS = frozenset({"get", "post", "api_route", "Mount", "Route", "add_api_route"})


@dataclass(frozen=True)
class MetricFact:
    """One metric family the stat logger creates."""

    kind: str
    buckets: tuple[float, ...] | None = None
    """Histogram bucket bounds; None when not a histogram or not resolvable."""
    labels: frozenset[str] | None = None
    """Label names vLLM gives the family (``le`` not included); None when not resolvable."""


@dataclass(frozen=True)
class VllmFacts:
    """The facts of one vLLM release that forescale depends on."""

    version: str
    flags: frozenset[str]
    flag_defaults: dict[str, object] = field(default_factory=dict)
    quantization: tuple[str, ...] = ()
    deprecated_quantization: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    metrics: dict[str, MetricFact] = field(default_factory=dict)
    routes: frozenset[str] = frozenset()
    config_defaults: dict[str, object] = field(default_factory=dict)
    """``"Class.field"`` -> literal default (None included); a key is absent when the
    field was not found or its default is not a literal."""
    logs: LogFacts = field(default_factory=LogFacts)
    """The log line format and the logger calls the sim-server's lines come from."""


class WheelSources:
    """Python sources of a wheel (or of any zip laid out like one), read once each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._texts: dict[str, str] = {}
        self._trees: dict[str, ast.Module] = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.startswith("vllm/") and info.filename.endswith(".py"):
                    self._texts[info.filename] = archive.read(info).decode("utf-8")

    def names(self) -> list[str]:
        return list(self._texts)

    def read(self, name: str) -> str | None:
        return self._texts.get(name)

    def parse(self, name: str) -> ast.Module | None:
        """The module's syntax tree, parsed once (several readers walk the config modules)."""
        if name not in self._trees:
            text = self.read(name)
            if text is None:
                return None
            self._trees[name] = ast.parse(text, filename=name)
        return self._trees[name]


def version_of(path: Path) -> str:
    """The version in a wheel file name (``vllm-0.33.0-cp38-...whl`` -> ``0.33.0``)."""
    return path.name.split("-")[1]


def _literal(node: ast.AST | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _literal_strings(node: ast.AST) -> tuple[str, ...]:
    """The strings of ``Literal["a", "b"]`` (or of a plain tuple/list of strings)."""
    if isinstance(node, ast.Subscript):
        node = node.slice
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    return ()


def read_flags(sources: WheelSources) -> tuple[frozenset[str], dict[str, object]]:
    """CLI flags of ``vllm serve`` and their literal defaults."""
    modules = [*ARG_MODULES]
    modules += [
        n
        for n in sources.names()
        if n.startswith("vllm/entrypoints/") and n.endswith("cli_args.py")
    ]
    flags: set[str] = set()
    defaults: dict[str, object] = {}
    for name in modules:
        tree = sources.parse(name)
        if tree is None:
            continue
        for call in calls_in(tree):
            if call_name(call) != "add_argument":
                continue
            given = [
                a.value
                for a in call.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
                and a.value.startswith("--")
            ]  # fmt: skip
            flags.update(given)
            for keyword in call.keywords:
                if keyword.arg == "default" and given:
                    value = _literal(keyword.value)
                    for flag in given:
                        defaults[flag] = value
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith("FrontendArgs"):
                for statement in node.body:
                    if isinstance(statement, ast.AnnAssign) and isinstance(
                        statement.target, ast.Name
                    ):
                        flag = "--" + statement.target.id.replace("_", "-")
                        flags.add(flag)
                        defaults.setdefault(flag, _literal(statement.value))
    return frozenset(flags), defaults


def read_quantization(sources: WheelSources) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(``--quantization`` choices, deprecated ones)."""
    tree = sources.parse(QUANTIZATION_MODULE)
    if tree is None:
        return (), ()
    methods = module_assignment(tree, "QuantizationMethods")
    deprecated = module_assignment(tree, "DEPRECATED_QUANTIZATION_METHODS")
    return (
        _literal_strings(methods) if methods is not None else (),
        _literal_strings(deprecated) if deprecated is not None else (),
    )


def read_dtypes(sources: WheelSources) -> tuple[str, ...]:
    """``--dtype`` choices."""
    for name in DTYPE_MODULES:
        tree = sources.parse(name)
        value = None if tree is None else module_assignment(tree, "ModelDType")
        if value is not None:
            return _literal_strings(value)
    return ()


class _BucketResolver:
    """Resolves a histogram's ``buckets=`` expression to numbers, where it is literal."""

    def __init__(self, sources: WheelSources, module: ast.Module) -> None:
        self._module = module
        self._families: dict[str, tuple[float, ...]] = {}
        table = sources.parse(BUCKETS_MODULE)
        if table is not None:
            defaults = module_assignment(table, "_STATIC_FAMILY_DEFAULTS")
            if isinstance(defaults, ast.Dict):
                for key, value in zip(defaults.keys, defaults.values, strict=True):
                    family = _literal(key)
                    if isinstance(family, str) and isinstance(value, ast.Name):
                        bounds = _literal(module_assignment(table, value.id))
                        if isinstance(bounds, tuple | list):
                            self._families[family] = tuple(float(b) for b in bounds)

    def resolve(self, node: ast.AST, scope: dict[str, ast.AST]) -> tuple[float, ...] | None:
        value = _literal(node)
        if isinstance(value, tuple | list) and all(isinstance(v, int | float) for v in value):
            return tuple(float(v) for v in value)
        if isinstance(node, ast.Name):
            target = scope.get(node.id) or module_assignment(self._module, node.id)
            return None if target is None else self.resolve(target, {})
        if isinstance(node, ast.Call) and call_name(node) == "histogram_buckets" and node.args:
            family = _literal(node.args[0])
            return self._families.get(family) if isinstance(family, str) else None
        return None


def _assignments(function: ast.AST) -> dict[str, ast.AST]:
    scope: dict[str, ast.AST] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    scope[target.id] = node.value
    return scope


def _keys_assigned(function: ast.AST, variable: str) -> frozenset[str]:
    """Literal keys the function stores into ``variable`` (``metrics_info["engine"] = ...``)."""
    keys: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == variable
                ):
                    key = _literal(target.slice)
                    if isinstance(key, str):
                        keys.add(key)
    return frozenset(keys)


def _resolve_labels(
    node: ast.AST, scope: dict[str, ast.AST], seen: frozenset[str] = frozenset()
) -> frozenset[str] | None:
    """Label names of a ``labelnames=`` expression: a list, a local variable, ``a + b``."""
    if isinstance(node, ast.List | ast.Tuple):
        strings = _literal_strings(node)
        return frozenset(strings) if len(strings) == len(node.elts) else None
    if isinstance(node, ast.Name) and node.id in scope and node.id not in seen:
        return _resolve_labels(scope[node.id], scope, seen | {node.id})
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _resolve_labels(node.left, scope, seen)
        right = _resolve_labels(node.right, scope, seen)
        return None if left is None or right is None else left | right
    return None


def _annotated(cls: ast.ClassDef) -> Iterator[tuple[str, ast.AnnAssign]]:
    """``(name, statement)`` for each ``name: T [= v]`` in a class body."""
    for statement in cls.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            yield statement.target.id, statement


def _instance_attributes(cls: ast.ClassDef) -> Iterator[str]:
    """What a config instance's ``__dict__`` holds: its fields (``ClassVar`` annotations are
    not) and the attributes its methods set on ``self`` (0.10.1's ``swap_space_bytes``)."""
    for name, statement in _annotated(cls):
        if "ClassVar" not in ast.unparse(statement.annotation):
            yield name
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    yield target.attr


def config_fields(sources: WheelSources, cls: str) -> frozenset[str] | None:
    """The attribute names a config class's instances carry (``_instance_attributes``)."""
    for module in CONFIG_MODULES:
        tree = sources.parse(module)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                return frozenset(_instance_attributes(node))
    return None


def _metric_labels(
    sources: WheelSources,
    name: str,
    given: ast.AST | None,
    function: ast.AST,
    scope: dict[str, ast.AST],
) -> frozenset[str] | None:
    if given is None:
        return frozenset()
    config = INFO_METRIC_CONFIGS.get(name)
    if (
        config is not None
        and isinstance(given, ast.Call)
        and call_name(given) == "keys"
        and isinstance(given.func, ast.Attribute)
        and isinstance(given.func.value, ast.Name)
    ):
        fields = config_fields(sources, config)
        added = _keys_assigned(function, given.func.value.id)
        return None if fields is None else fields | added
    return _resolve_labels(given, scope)


def read_metrics(sources: WheelSources) -> dict[str, MetricFact]:
    """Metric families the V1 stat logger creates, with histogram buckets and labels."""
    tree = sources.parse(METRICS_MODULE)
    if tree is None:
        return {}
    resolver = _BucketResolver(sources, tree)
    metrics: dict[str, MetricFact] = {}
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for function in functions:
        scope = _assignments(function)
        for call in calls_in(function):
            kind = _KINDS.get(call_name(call) or "")
            if kind is None:
                continue
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            given: ast.AST | None = keywords.get("name")
            if isinstance(given, ast.Name):
                given = scope.get(given.id)
            name = _literal(given)
            if not isinstance(name, str) or not name.startswith("vllm:"):
                continue
            buckets = None
            if kind == "histogram" and "buckets" in keywords:
                buckets = resolver.resolve(keywords["buckets"], scope)
            labels = _metric_labels(sources, name, keywords.get("labelnames"), function, scope)
            metrics.setdefault(name, MetricFact(kind, buckets, labels))
    return metrics


def read_routes(sources: WheelSources) -> frozenset[str]:
    """HTTP paths the OpenAI-compatible server declares."""
    routes: set[str] = set()
    for name in sources.names():
        if not name.startswith("vllm/entrypoints/"):
            continue
        text = sources.read(name)
        if text is None or not any(c in text for c in _ROUTE_CALLS):
            continue
        for call in calls_in(ast.parse(text, filename=name)):
            if call_name(call) in _ROUTE_CALLS and call.args:
                path = _literal(call.args[0])
                if isinstance(path, str) and path.startswith("/"):
                    routes.add(path)
    return frozenset(routes)


def _field_default(value: ast.AST | None) -> tuple[bool, object]:
    """(found, literal) for a dataclass field's value: ``v`` or ``Field(default=v, ...)``."""
    if value is None:
        return False, None
    if isinstance(value, ast.Call) and call_name(value) == "Field":
        given = [k.value for k in value.keywords if k.arg == "default"]
        if not given:
            return False, None
        value = given[0]
    try:
        return True, ast.literal_eval(value)
    except ValueError:
        return False, None


def _class_fields(tree: ast.Module) -> Iterator[tuple[str, ast.AST | None]]:
    """``("Class.field", value)`` for each annotated assignment in a class body."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for name, statement in _annotated(node):
                yield f"{node.name}.{name}", statement.value


def read_config_defaults(sources: WheelSources) -> dict[str, object]:
    """Literal defaults of ``CONFIG_DEFAULTS``, from the first module that defines each."""
    wanted = {f"{cls}.{name}" for cls, name in CONFIG_DEFAULTS}
    defaults: dict[str, object] = {}
    for module in CONFIG_MODULES:
        tree = sources.parse(module)
        if tree is None:
            continue
        for key, value in _class_fields(tree):
            if key in wanted and key not in defaults:
                found, literal = _field_default(value)
                if found:
                    defaults[key] = literal
        if wanted <= defaults.keys():
            break
    return defaults


def read_wheel(path: Path) -> VllmFacts:
    """Every fact forescale checks, from one wheel."""
    sources = WheelSources(path)
    flags, defaults = read_flags(sources)
    quantization, deprecated = read_quantization(sources)
    return VllmFacts(
        version=version_of(path),
        flags=flags,
        flag_defaults=defaults,
        quantization=quantization,
        deprecated_quantization=deprecated,
        dtypes=read_dtypes(sources),
        metrics=read_metrics(sources),
        routes=read_routes(sources),
        config_defaults=read_config_defaults(sources),
        logs=read_logs(sources),
    )
