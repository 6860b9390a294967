"""Source writer and FHIRPath navigation for the generated extractors (:mod:`hygie.search.extract_codegen`).

Specs: https://hl7.org/fhirpath/N1/ (path navigation and flattening, ``as``, ``where``, ``|``) and
https://hl7.org/fhir/R4/fhirpath.html (``resolve()``, ``extension()``, choice elements).

Each step of :class:`hygie.fhir.fhirpath_fast.Step` becomes nested loops over the items it yields,
with the semantics of the specialised steps of :mod:`hygie.fhir.fhirpath_fast` (same items, same
order). Lookups on the resource itself are written once per function and shared by every parameter
reading the same element (``Observation.code`` for ``code``, ``combo-code``...): the resource is not
modified while its rows are extracted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from hygie.fhir.fhirpath_fast import Step, shapes
from hygie.fhir.fhirpath_parser import _Parser
from hygie.fhir.fhirpath_runtime import _RESOURCE_BASES, CHOICE_ELEMENTS, CHOICE_SUFFIXES, reference_type

__all__ = [
    "ROOT",
    "Body",
    "Writer",
    "branches",
    "cached_reference_type",
    "coding_test",
    "concept_test",
    "identifier_test",
    "number_of",
    "quantity_test",
    "root_items",
    "values",
    "walk",
]

Body = Callable[[str], None]
ROOT = "r"  # the resource, in generated code


class Writer:
    """Lines of Python source at an indentation depth, fresh names, constants, shared lookups."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.counts: dict[str, int] = {}  # local names, reused by each parameter (a small frame)
        self.global_count = 0  # names of shared lookups and constants
        self.constants: dict[str, Any] = {}
        self.tables: set[str] = set()
        self.shared: dict[Any, str] = {}  # lookups on the resource, written once (see _at_root)

    def entry(self) -> None:
        """Start a parameter's code: its local names may be those of the previous ones."""
        self.counts.clear()

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def fresh(self, prefix: str) -> str:
        count = self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}{count}"

    def fresh_global(self, prefix: str) -> str:
        self.global_count += 1
        return f"{prefix}_{self.global_count}"

    def constant(self, prefix: str, value: Any) -> str:
        for name, known in self.constants.items():
            if known is value:
                return name
        name = self.fresh_global(prefix.upper())
        self.constants[name] = value
        return name

    def append(self, table: str, row: str) -> None:
        self.tables.add(table)
        self(f"{table}({row})")


@lru_cache(maxsize=4096)
def cached_reference_type(reference: str) -> str | None:
    """:func:`hygie.fhir.fhirpath_runtime.reference_type`, remembered (references recur)."""
    return reference_type(reference)


def _at_root(w: Writer, var: str) -> bool:
    """Whether a step on ``var`` is a lookup on the resource at the function's top level."""
    return var == ROOT and w.depth == 1


def walk(w: Writer, var: str, is_dict: bool, steps: tuple[Step, ...], body: Body) -> None:
    """Emit the navigation of ``steps`` from the item in ``var`` (known to be a dict if ``is_dict``),
    then ``body`` for each item reached."""
    if not steps:
        body(var)
        return
    step, rest = steps[0], steps[1:]
    if step.kind == "resolve_is":  # where(resolve() is X): the item itself, if it targets X
        _resolve_is(w, var, is_dict, step, rest, body)
        return
    if not is_dict:
        with w.block(f"if type({var}) is dict:"):
            walk(w, var, True, steps, body)
        return
    if step.kind == "member":
        _member(w, var, step.name, rest, body)
    elif step.kind == "typed":
        _typed(w, var, step, rest, body)
    else:  # extension('url')
        item = w.fresh("x")
        extensions = _shared(w, var, ("extension",), lambda name: w(f"{name} = {var}.get('extension') or ()"))
        test = f"if isinstance({item}, dict) and {item}.get('url') == {step.name!r}:"
        with w.block(f"for {item} in {extensions}:"), w.block(test):
            walk(w, item, False, rest, body)


def _shared(w: Writer, var: str, key: Any, write: Body) -> str:
    """The variable holding a lookup on ``var``: written by ``write(name)`` here, or once for all
    the parameters when ``var`` is the resource (and this is the function's top level)."""
    if not _at_root(w, var):
        name = w.fresh("v")
        write(name)
        return name
    name = w.shared.get(key, "")
    if not name:
        name = w.shared[key] = w.fresh_global("root")
        write(name)
    return name


def _each(w: Writer, value: str, rest: tuple[Step, ...], body: Body, test: str = "") -> None:
    """Every item of ``value`` (a list's items, else the value itself)."""
    item = w.fresh("x")
    with w.block(f"for {item} in ({value} if type({value}) is list else ({value},)):"):
        if test:
            with w.block(test.format(item)):
                walk(w, item, False, rest, body)
        else:
            walk(w, item, False, rest, body)


def _member(w: Writer, var: str, name: str, rest: tuple[Step, ...], body: Body) -> None:
    """``name`` of a dict: its value, or for a choice element the first ``name<Type>`` key."""
    if _at_root(w, var):
        item = w.fresh("x")
        with w.block(f"for {item} in {root_items(w, Step('member', name))}:"):
            walk(w, item, False, rest, body)
        return
    value = w.fresh("v")
    _lookup(w, var, name, value)
    with w.block(f"if {value} is not None:"):
        _each(w, value, rest, body)


def _lookup(w: Writer, var: str, name: str, value: str) -> None:
    if name not in CHOICE_ELEMENTS:
        w(f"{value} = {var}.get({name!r})")
        return
    choices = w.constant("choices", _choices(name))
    w(f"{value} = {var}.get({name!r}, _M)")
    with w.block(f"if {value} is _M:"):
        w(f"{value} = None")
        key = w.fresh("k")
        with w.block(f"for {key} in {var}:"), w.block(f"if {key} in {choices}:"):
            w(f"{value} = {var}[{key}]")
            w("break")


def root_items(w: Writer, step: Step) -> str:
    """The variable holding the items a member or typed ``step`` yields on the resource, written
    once at the function's top level (``()`` when absent, the list, or the value alone)."""
    assert w.depth == 1 and step.kind in ("member", "typed")

    def member(name: str) -> None:
        _lookup(w, ROOT, step.name, name)
        w(f"{name} = () if {name} is None else {name} if type({name}) is list else ({name},)")

    if step.kind == "member":
        return _shared(w, ROOT, ("member", step.name), member)
    return _shared(w, ROOT, ("typed", step.name, step.type_name), lambda n: _typed_items(w, ROOT, step, n))


@lru_cache(maxsize=256)
def _choices(name: str) -> frozenset[str]:
    return frozenset(name + suffix for suffix in CHOICE_SUFFIXES)


def _typed(w: Writer, var: str, step: Step, rest: tuple[Step, ...], body: Body) -> None:
    """``name as Type``: the keys ``name<Type>`` (all present ones), else a type-checked ``name``.

    On the resource, the items are collected once into a list that every parameter reads."""
    if _at_root(w, var):
        item = w.fresh("x")
        with w.block(f"for {item} in {root_items(w, step)}:"):
            walk(w, item, False, rest, body)
        return
    _typed_lookup(w, var, step, lambda each, test="": _each(w, each, rest, body, test))


def _typed_items(w: Writer, var: str, step: Step, name: str) -> None:
    w(f"{name} = []")

    def collect(each: str, test: str = "") -> None:
        _each(w, each, (), lambda item: w(f"{name}.append({item})"), test)

    _typed_lookup(w, var, step, collect)


def _typed_lookup(w: Writer, var: str, step: Step, each: Callable[..., None]) -> None:
    value = w.fresh("v")
    checked = f"if is_type({{}}, {step.type_name!r}):"
    if len(step.keys) == 1:
        w(f"{value} = {var}.get({step.keys[0]!r}, _M)")
        with w.block(f"if {value} is not _M:"):
            each(value)
        with w.block(f"elif {step.name!r} in {var}:"):
            w(f"{value} = {var}[{step.name!r}]")
            each(value, checked)
        return
    found, key = w.fresh("found"), w.fresh("k")
    w(f"{found} = False")
    any_key = f"if not {w.constant('keys', frozenset(step.keys))}.isdisjoint({var}):"  # in C
    with w.block(any_key), w.block(f"for {key} in {step.keys!r}:"):
        w(f"{value} = {var}.get({key}, _M)")
        with w.block(f"if {value} is not _M:"):
            w(f"{found} = True")
            each(value)
    with w.block(f"if not {found} and {step.name!r} in {var}:"):
        w(f"{value} = {var}[{step.name!r}]")
        each(value, checked)


def _resolve_is(w: Writer, var: str, is_dict: bool, step: Step, rest: tuple[Step, ...], body: Body) -> None:
    """``where(resolve() is X)`` (:func:`hygie.fhir.fhirpath_runtime._target_type`): a Reference's
    type from its ``reference`` string (the common case, inline), else by the runtime helper."""
    target, ref = w.fresh("target"), w.fresh("ref")
    test = f"type({var}) is dict and type({ref} := {var}.get('reference')) is str and {ref}[:1] != '#'"
    with w.block(f"if {test}:"):
        w(f"{target} = reference_type({ref})")
        with w.block(f"if {target} is None and isinstance({var}.get('type'), str):"):
            w(f"{target} = {var}['type']")
    with w.block(f"elif isinstance({var}, (str, dict)):"):
        w(f"{target} = target_type({var}, {ROOT})")
    with w.block("else:"):
        w(f"{target} = None")
    test = "is not None" if step.type_name in _RESOURCE_BASES else f"== {step.type_name!r}"
    with w.block(f"if {target} {test}:"):
        walk(w, var, is_dict, rest, body)


def values(
    w: Writer, found: list[tuple[Step, ...]], union: bool, body: Body, root: str = ROOT, is_dict: bool = True
) -> None:
    """``body`` for each value of the branches ``found`` from ``root`` (a dict if ``is_dict``):
    streamed for a lone branch, else collected then made distinct as ``|`` does."""
    if not union:
        walk(w, root, is_dict, found[0], body)
        return
    collected = w.fresh("values")
    w(f"{collected} = []")
    for steps in found:
        walk(w, root, is_dict, steps, lambda item: w(f"{collected}.append({item})"))
    item = w.fresh("y")
    with w.block(f"for {item} in ({collected} if len({collected}) < 2 else distinct_union({collected})):"):
        body(item)


def branches(expression: str, resource_type: str) -> tuple[list[tuple[Step, ...]], bool] | None:
    """The steps of the branches of ``expression`` that may apply to ``resource_type`` (those of
    another resource type yield nothing), and whether it is a union; None when a branch has no
    specialised shape. A bare type name has no steps (the resource itself)."""
    found = shapes(_Parser(expression).parse())
    kept = []
    for shape in found:
        if shape is None:
            return None
        root, steps = shape
        if root in _RESOURCE_BASES or root == resource_type:
            kept.append(steps)
    return kept, len(found) > 1


# Tests of the value shapes converted inline


def concept_test(item: str, codings: str) -> str:
    """A CodeableConcept with a list of codings (bound to ``codings``), not an Extension."""
    return f"type({item}) is dict and 'url' not in {item} and type({codings} := {item}.get('coding')) is list"


def coding_test(item: str) -> str:
    """A Coding with a code (not a CodeableConcept, Identifier, ContactPoint or Extension)."""
    return (
        f"type({item}) is dict and 'code' in {item} and 'coding' not in {item} and 'value' not in {item}"
        f" and 'url' not in {item}"
    )


def identifier_test(item: str, value: str) -> str:
    """An Identifier (or ContactPoint) without type or rank, its value a string (bound to ``value``)."""
    return (
        f"type({item}) is dict and 'value' in {item} and 'coding' not in {item} and 'url' not in {item}"
        f" and 'type' not in {item} and 'rank' not in {item} and type({value} := {item}['value']) is str"
    )


def number_of(item: str, value: str) -> str:
    """:func:`hygie.search.ranges.number_range` of ``item['value']`` (bound to ``value``), its
    cached text range called directly for a JSON decimal (the usual value)."""
    return (
        f"number_text_range({value}.text or repr({value})) if type({value} := {item}['value']) is Decimal"
        f" else number_range({value})"
    )


def quantity_test(item: str) -> str:
    """A Quantity with a value (not a Range, Money or Extension)."""
    return (
        f"type({item}) is dict and 'value' in {item} and 'url' not in {item} and 'low' not in {item}"
        f" and 'high' not in {item} and 'currency' not in {item}"
    )
