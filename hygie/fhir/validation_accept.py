"""Compiled acceptor of valid FHIR R4 resources: the fast path of :mod:`hygie.fhir.validation`.

Spec: https://hl7.org/fhir/R4/validation.html, https://hl7.org/fhir/R4/json.html,
https://hl7.org/fhir/R4/references.html#contained (dom-2, dom-3, dom-4),
https://hl7.org/fhir/R4/extensibility.html#ext-1, https://hl7.org/fhir/R4/narrative.html#rules.

:func:`accepts` answers True only for a resource on which the reporting validator would report
nothing; False means "maybe not": the caller then runs the reporting validator, which decides and
says what is wrong. It runs the functions :mod:`hygie.fhir.validation_codegen` writes for each type
(straight-line tests of the known properties, no location bookkeeping, no issue objects), compiled
on first use, with the helpers below, which follow the reporting validator's rules for the rarer
cases: contained and nested resources, references, ``_x`` companions, unexpected properties,
required bindings of codings. Valid strings of the lexical types are cached
(:mod:`hygie.fhir.validation_lexical`).

When it accepts, :func:`hygie.fhir.validation.validate_resource` returns no issue without
walking the resource: tests hold the acceptor to never accepting what the reporting validator
rejects (``tests/fhir/test_validation_accept.py``). Its only side effects are on the caches.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final, TypeAlias

from hygie.fhir import primitives
from hygie.fhir.definitions import SPECIAL_DIV, SPECIAL_REFERENCE, SPECIAL_URI, Element
from hygie.fhir.validation_codegen import CACHED_TYPES, Writer
from hygie.fhir.validation_lexical import Cache, UriCache
from hygie.fhir.validation_plan import Plans, plans
from hygie.fhir.validation_rules import (
    REF_BAD,
    REF_LITERAL,
    REF_LOCAL,
    classify_reference,
    is_conditional_bundle,
    narrative_problem,
)

__all__ = ["accepts", "compile_acceptor", "source"]

_MAX_CHARS: Final = primitives.MAX_STRING_CHARS
LEARNING_OBJECTS: Final = 256  # objects a function counts the properties of before its recompilation
_UUID: Final = primitives.UUID_RE.fullmatch


class Context:
    """What the checks of one resource collect for dom-3: local references, contained resources.

    Only resources with contained resources (and transaction or batch Bundles, whose entries may
    use conditional references) get one; the others are checked with ``None``.
    """

    __slots__ = ("conditional", "contained", "refs")

    def __init__(self, conditional: bool) -> None:
        self.conditional = conditional  # conditional references allowed (transaction/batch entries)
        self.refs: set[str] = set()  # local references ("#id", "#")
        self.contained: list[tuple[object, bool]] = []  # (id, refers to its container)


Check: TypeAlias = Callable[[dict[str, Any], int, "Context | None"], bool]
# rest() table of a node: property -> (a "_x" companion, repeats, element key, choice element name)
Rest: TypeAlias = dict[str, tuple[bool, bool, str, "str | None"]]


_URIS: Final = frozenset({"uri", "url", "canonical"})
CACHES: Final = {t: (UriCache(t) if t in _URIS else Cache(t)) for t in CACHED_TYPES}
# Literal references found valid whatever the resource around them (not "#id", not conditional).
REFERENCES: Final = Cache("string")


class Acceptor:
    """The compiled checks of every type, with the helpers their source calls.

    A stub stands for each function until its first call, which compiles it: a process compiles
    the few dozen types its resources use, not the 700 of R4. The first version tests the
    properties in a default order (:func:`hygie.fhir.validation_codegen.Writer.source`) and counts
    those it meets; after :data:`LEARNING_OBJECTS` objects, the function is compiled again with
    the most frequent properties first, so that it stops sooner (any order gives the same answers).
    """

    def __init__(self, tables: Plans) -> None:
        self.writer = Writer(tables)
        self.lock = threading.RLock()
        self.started: set[str] = set()
        self.namespace: dict[str, Any] = {
            **{f"S_{t}": cache.values for t, cache in CACHES.items()},
            **{f"learn_{t}": cache.learn for t, cache in CACHES.items()},
            "REFERENCES": REFERENCES.values,
            "ID": primitives.ID_RE.fullmatch,
            "isfinite": math.isfinite,
            "reference": _reference,
            "primitive": _primitive,
            "coded": _coded,
            "resource": self.nested,
            "contained": self.contained,
            "rest": self.rest,
        }
        self.roots: dict[str, Check] = {}
        self.root_types = {name: rtype for rtype, name in self.writer.roots.items()}
        for name in self.writer.functions:
            self.install(name, self._stub(name))

    def install(self, name: str, check: Check) -> None:
        """Bind function ``name``, where the generated code and :meth:`resource` find it."""
        self.namespace[name] = check
        rtype = self.root_types.get(name)
        if rtype is not None:
            self.roots[rtype] = check

    def compile(self, name: str, seen: Mapping[str, int] | None = None) -> Check:
        """Function ``name`` compiled (``seen``: property counts, the most frequent tested first)."""
        with self.lock:
            source = self.writer.source(name, seen)
            for constant, value in self.writer.constants.items():
                self.namespace.setdefault(constant, value)
            defined: dict[str, Any] = {}
            code = compile(source, f"<hygie.fhir.validation_accept:{name}>", "exec")
            exec(code, self.namespace, defined)  # noqa: S102 (our own generated source)
            return defined[name]  # type: ignore[no-any-return]

    def _stub(self, name: str) -> Check:
        def first_call(obj: dict[str, Any], depth: int, context: Context | None) -> bool:
            with self.lock:
                if name not in self.started:
                    self.started.add(name)
                    self.install(name, self._learning(name, self.compile(name)))
            return self.namespace[name](obj, depth, context)  # type: ignore[no-any-return]

        return first_call

    def _learning(self, name: str, first: Check) -> Check:
        seen: Counter[str] = Counter()
        count = 0

        def learning(obj: dict[str, Any], depth: int, context: Context | None) -> bool:
            nonlocal count
            seen.update(obj.keys())
            count += 1
            if count >= LEARNING_OBJECTS and self.namespace[name] is learning:  # once (threads)
                with self.lock:
                    if self.namespace[name] is learning:
                        self.install(name, self.compile(name, seen))
            return first(obj, depth, context)

        return learning

    def element(self, value: dict[str, Any], depth: int, context: Context | None) -> bool:
        """The Element of a ``_x`` companion whose primitive has no value (ele-1 applies)."""
        return self.namespace[self.writer.element](value, depth, context)  # type: ignore[no-any-return]

    def element_with_value(self, value: dict[str, Any], depth: int, context: Context | None) -> bool:
        """The Element of a ``_x`` companion whose primitive has a value (an id alone is fine)."""
        return self.namespace[self.writer.element_with_value](value, depth, context)  # type: ignore[no-any-return]

    def resource(self, value: object, depth: int, context: Context | None, expected: str | None) -> bool:
        """A resource (root or nested) and the dom-3 rule over its contained resources.

        ``context``: the one of a contained resource, else None (a fresh one is made if needed).
        """
        if type(value) is not dict:
            return False
        rtype = value.get("resourceType")
        check = self.roots.get(rtype) if type(rtype) is str else None
        if check is None or (expected is not None and rtype != expected):
            return False
        if rtype == "Bundle" and is_conditional_bundle(value):
            if context is None:
                context = Context(True)
            context.conditional = True
        elif context is None and "contained" in value:
            context = Context(False)
        if not check(value, depth, context):
            return False
        if context is None or not context.contained:
            return True
        refs = context.refs
        for contained_id, refers_to_container in context.contained:
            if not (refers_to_container or (type(contained_id) is str and "#" + contained_id in refs)):
                return False
        return True

    def nested(self, value: object, depth: int, context: Context | None) -> bool:
        """``Bundle.entry.resource``, ``Parameters.parameter.resource``…: a scope of its own."""
        if context is not None and context.conditional:
            return self.resource(value, depth, Context(True), None)
        return self.resource(value, depth, None, None)

    def contained(self, value: object, depth: int, context: Context) -> bool:
        """The ``contained`` array: no nested contained (dom-2), no versionId/lastUpdated (dom-4).

        A contained resource adds its local references to its container's (dom-3 looks at them
        all); it refers to its container if it adds ``#``. Checked in the container's context (no
        context of its own to make), but a transaction or batch Bundle, whose conditional
        references must not leak into its container.
        """
        if type(value) is not list or not value:
            return False
        refs = context.refs
        for item in value:
            if type(item) is not dict or "contained" in item:
                return False
            meta = item.get("meta")
            if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta):
                return False
            rtype = item.get("resourceType")
            if rtype == "Bundle":
                child = Context(context.conditional)
                if not self.resource(item, depth, child, None):
                    return False
                refs |= child.refs
                to_container = "#" in child.refs
            else:
                check = self.roots.get(rtype) if type(rtype) is str else None
                had_container = "#" in refs  # then whether this one refers to it is not known: False
                if check is None or not check(item, depth, context):
                    return False
                to_container = not had_container and "#" in refs
            context.contained.append((item.get("id"), to_container))
        return True

    def rest(self, obj: dict[str, Any], depth: int, context: Context | None, table: Rest) -> bool:
        """The properties a node function has not counted: ``_x`` companions, a second type of a
        choice element (refused), unknown properties (refused)."""
        variants: dict[str, str] | None = None
        for key, value in obj.items():
            entry = table.get(key)
            if entry is None:
                return False
            companion, many, name, group = entry
            if group is not None:  # one type per choice element, its "_x" companion aside
                if variants is None:
                    variants = {}
                if variants.setdefault(group, name) != name:
                    return False
            if not companion:
                if value is None:  # not counted by the node function: null is no value
                    return False
            else:
                main = obj.get(name)
                if not (self.companions if many else self.companion)(value, depth, context, main):
                    return False
        return True

    def companion(self, value: object, depth: int, context: Context | None, main: object) -> bool:
        """The ``_name`` Element of a single primitive."""
        if type(value) is not dict:
            return False
        if main is None:
            return self.element(value, depth, context)
        return self.element_with_value(value, depth, context)

    def companions(self, value: object, depth: int, context: Context | None, main: object) -> bool:
        """The ``_name`` array of a repeating primitive: aligned with ``name``, null where no Element."""
        if type(value) is not list:
            return False
        if main is not None and (type(main) is not list or len(main) != len(value)):
            return False
        for index, item in enumerate(value):
            if item is None:
                if main is None:
                    return False
                continue
            has_value = type(main) is list and main[index] is not None
            if not self.companion(item, depth, context, True if has_value else None):
                return False
        return True


def _local(context: Context | None, value: str) -> bool:
    """A canonical or uri pointing at a contained resource (``#id``)."""
    if context is not None:
        context.refs.add(value)
    return True


def _reference(context: Context | None, text: str) -> bool:
    """``Reference.reference`` not already known valid: https://hl7.org/fhir/R4/references.html#literal."""
    if text.startswith("urn:uuid:"):  # the usual form in Bundles; not relative (no "/" after "urn")
        if _UUID(text) is None:
            return False
        kind = REF_LITERAL
    elif not (text and len(text) <= _MAX_CHARS):
        return False
    else:
        kind, _ = classify_reference(text, context is not None and context.conditional)
    if kind == REF_LITERAL:
        REFERENCES.remember(text)
    elif kind == REF_LOCAL and context is not None:
        context.refs.add(text)
    return kind != REF_BAD


def _primitive(element: Element, context: Context | None, value: object) -> bool:
    """Every check of a primitive value (the rare types with no inline check: base64Binary, div)."""
    if primitives.CHECKERS[element.type_code](value) != primitives.OK:
        return False
    if element.codes is not None and value not in element.codes:
        return False
    special = element.special
    if special and type(value) is str:
        if special == SPECIAL_URI:
            if value[0] == "#":
                _local(context, value)
        elif special == SPECIAL_REFERENCE:
            return _reference(context, value)
        elif special == SPECIAL_DIV:
            return narrative_problem(value) is None
    return True


def _coded(value: dict[str, Any], systems: dict[str, frozenset[str]], is_coding: bool) -> bool:
    """A required binding (https://hl7.org/fhir/R4/terminologies.html#required): a coding from the
    value set, and no coding of its systems with a code outside it."""
    codings = [value] if is_coding else value.get("coding")
    if type(codings) is not list:
        return False
    matched = False
    for coding in codings:
        if type(coding) is not dict or type(coding.get("system")) is not str:
            continue
        codes = systems.get(coding["system"])
        if codes is None:
            continue
        code = coding.get("code")
        if not (type(code) is str and code in codes):
            return False
        matched = True
    return matched


@cache
def compile_acceptor(tables: Plans | None = None) -> Acceptor:
    """The acceptor of ``tables`` (default: the fast plans), compiled once per process."""
    return Acceptor(plans() if tables is None else tables)


_DEFAULT: list[Acceptor] = []  # the default acceptor, once built


def accepts(resource: object, expected_type: str | None = None) -> bool:
    """True if :func:`hygie.fhir.validation.validate_resource` surely finds no issue."""
    acceptor = _DEFAULT[0] if _DEFAULT else _default()
    return acceptor.resource(resource, 0, None, expected_type)


def _default() -> Acceptor:
    _DEFAULT[:] = [compile_acceptor()]
    return _DEFAULT[0]


def source() -> str:
    """The generated Python source of every function, to read."""
    return Writer(plans()).program()
