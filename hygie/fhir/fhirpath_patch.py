"""FHIRPath Patch: apply a Parameters resource of patch operations to a resource.

Spec: https://hl7.org/fhir/R4/fhirpatch.html (operations add, insert, delete, replace, move),
https://hl7.org/fhir/R4/parameters.html (the encoding) and https://hl7.org/fhir/R4/json.html
(arrays, choice elements ``value[x]`` and primitive extensions ``_name``).

:func:`apply_fhirpath_patch` returns a new resource and never mutates its inputs. Operations are
applied in order; each path is a FHIRPath expression evaluated to *locations* (the JSON object
and key holding each element) by a small evaluator over the parser of :mod:`hygie.fhir.fhirpath`.
Supported in paths: ``Type.a.b``, ``a.b`` (relative to the resource), indexers ``[n]``,
``where(criteria)`` (any criteria the FHIRPath compiler supports), ``first()``, ``last()``,
``single()``, ``extension('url')``, ``ofType(T)`` / ``as T``, and choice elements by their base
name (``Observation.value`` finds ``valueQuantity``). Anything else is answered 422.

Rules (spec "base rules" and JSON format):

- add: the path designates exactly one object; ``name`` is appended to a repeating element or set
  on a single one that is still absent. A choice element's key comes from the value's type
  (``deceased`` + ``valueBoolean`` -> ``deceasedBoolean``).
- insert / move: the path ends with the name of a repeating element under exactly one object;
  ``index`` in ``0..len``, ``source`` / ``destination`` in ``0..len-1``.
- delete: a path matching nothing is a no-op; several matches is an error.
- replace: exactly one match; on a choice element the key follows the new value's type.
- ``value`` is one ``value[x]``, a ``resource``, or ``part``s naming the properties of an anonymous
  object (built recursively, typed by the R4 definitions of the target element).
- Arrays stay arrays, emptied arrays and objects are removed, aligned ``_name`` arrays of primitive
  extensions follow inserts, deletes and moves. Replacing a primitive keeps its ``_name``
  extensions unless the key changes (choice type); deleting it drops them.

Errors: malformed Parameters (or a FHIRPath syntax error) -> 400; a patch that cannot be applied
-> 422. Each issue's expression points into the Parameters (``Parameters.parameter[1].part[2]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hygie.fhir.definitions import PRIMITIVE_TYPES, Element, Node, resource_node
from hygie.fhir.fhirpath import _compile
from hygie.fhir.fhirpath_parser import (
    FhirPathError,
    _Call,
    _Ident,
    _Index,
    _Literal,
    _Member,
    _Node,
    _Parser,
    _TypeOp,
)
from hygie.fhir.fhirpath_runtime import CHOICE_ELEMENTS, CHOICE_SUFFIXES, _singleton_bool, is_type
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

__all__ = ["apply_fhirpath_patch"]

Json = dict[str, Any]

# Diagnostics (French, English), registered with hygie.fhir.messages.
_MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "fhirpatch.not_parameters": (
        "Un patch FHIRPath doit être une ressource Parameters.",
        "A FHIRPath Patch must be a Parameters resource.",
    ),
    "fhirpatch.not_operation": (
        "Chaque paramètre d'un patch FHIRPath doit s'appeler 'operation' et avoir des parts.",
        "Each parameter of a FHIRPath Patch must be named 'operation' and have parts.",
    ),
    "fhirpatch.part_invalid": (
        "Chaque part doit être un objet avec un nom (name).",
        "Each part must be an object with a name.",
    ),
    "fhirpatch.part_missing": (
        "L'opération '{type}' exige la part '{part}'.",
        "The '{type}' operation requires the '{part}' part.",
    ),
    "fhirpatch.part_duplicate": (
        "La part '{part}' est répétée.",
        "The '{part}' part is repeated.",
    ),
    "fhirpatch.part_unexpected": (
        "La part '{part}' n'est pas attendue pour l'opération '{type}'.",
        "The '{part}' part is not expected for the '{type}' operation.",
    ),
    "fhirpatch.part_type": (
        "La part '{part}' doit porter {expected}.",
        "The '{part}' part must carry {expected}.",
    ),
    "fhirpatch.type_unknown": (
        "Type d'opération inconnu '{type}' (add, insert, delete, replace, move).",
        "Unknown operation type '{type}' (add, insert, delete, replace, move).",
    ),
    "fhirpatch.value_invalid": (
        "La valeur doit être exactement une valeur value[x], une ressource ou des parts.",
        "The value must be exactly one value[x], a resource or parts.",
    ),
    "fhirpatch.too_deep": (
        "La valeur est imbriquée trop profondément.",
        "The value is nested too deeply.",
    ),
    "fhirpatch.path_syntax": (
        "Chemin FHIRPath invalide '{path}' : {detail}",
        "Invalid FHIRPath '{path}': {detail}",
    ),
    "fhirpatch.path_unsupported": (
        "Le chemin '{path}' utilise '{feature}', non pris en charge par le patch FHIRPath.",
        "The path '{path}' uses '{feature}', which FHIRPath Patch does not support.",
    ),
    "fhirpatch.path_eval": (
        "Le chemin '{path}' ne peut pas être évalué : {detail}",
        "The path '{path}' cannot be evaluated: {detail}",
    ),
    "fhirpatch.no_match": (
        "Le chemin '{path}' ne désigne aucun élément.",
        "The path '{path}' matches no element.",
    ),
    "fhirpatch.ambiguous": (
        "Le chemin '{path}' désigne {count} éléments ; il en faut exactement un.",
        "The path '{path}' matches {count} elements; exactly one is required.",
    ),
    "fhirpatch.not_container": (
        "Le chemin '{path}' ne désigne pas un élément complexe pouvant recevoir '{name}'.",
        "The path '{path}' does not designate a complex element that can hold '{name}'.",
    ),
    "fhirpatch.unknown_element": (
        "'{name}' n'est pas un élément de {type}.",
        "'{name}' is not an element of {type}.",
    ),
    "fhirpatch.already_present": (
        "L'élément '{name}' existe déjà et ne se répète pas : utilisez replace.",
        "The element '{name}' already exists and does not repeat: use replace.",
    ),
    "fhirpatch.not_list": (
        "Le chemin '{path}' doit se terminer par le nom d'un élément répétable.",
        "The path '{path}' must end with the name of a repeating element.",
    ),
    "fhirpatch.index_range": (
        "L'indice {index} est hors de l'intervalle 0..{max} de '{path}'.",
        "Index {index} is outside 0..{max} for '{path}'.",
    ),
    "fhirpatch.wrong_type": (
        "Une valeur de type {given} ne peut pas être placée dans '{name}' (type {expected}).",
        "A value of type {given} cannot be placed in '{name}' (type {expected}).",
    ),
    "fhirpatch.choice_untyped": (
        "'{name}' est un élément à choix de type : la valeur doit être typée (value[x]).",
        "'{name}' is a choice element: the value must be typed (value[x]).",
    ),
    "fhirpatch.root": (
        "La ressource elle-même ne peut pas être supprimée ni remplacée.",
        "The resource itself cannot be deleted or replaced.",
    ),
}
register({key: {"fr": fr, "en": en} for key, (fr, en) in _MESSAGES.items()})

_INTEGER_KEYS: Final = ("valueInteger", "valueUnsignedInt", "valuePositiveInt")
# Accepted value[x] keys of each scalar part.
_SCALAR_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "type": ("valueCode", "valueString"),
    "path": ("valueString",),
    "name": ("valueString",),
    "index": _INTEGER_KEYS,
    "source": _INTEGER_KEYS,
    "destination": _INTEGER_KEYS,
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "add": ("path", "name", "value"),
    "insert": ("path", "value", "index"),
    "delete": ("path",),
    "replace": ("path", "value"),
    "move": ("path", "source", "destination"),
}
_PART_META: Final = frozenset({"name", "id", "extension", "modifierExtension"})
_MAX_DEPTH: Final = 32

# Primitive types sharing a JSON representation: a value of one may stand for another (the
# patched resource is validated afterwards anyway).
_FAMILY: Final[dict[str, str]] = {
    **dict.fromkeys(
        ("string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid", "base64Binary",
         "date", "dateTime", "instant", "time", "xhtml"),
        "text",
    ),
    **dict.fromkeys(("integer", "unsignedInt", "positiveInt", "decimal"), "number"),
    **dict.fromkeys(
        ("Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"), "quantity"
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Parameters parsing


@dataclass(frozen=True, slots=True)
class _Op:
    """One ``operation`` parameter, checked for shape."""

    at: str  # "Parameters.parameter[i]"
    kind: str
    where: dict[str, str]  # part name -> its expression
    scalars: dict[str, Any]  # path, name, index, source, destination
    value: Json | None

    def fail(self, status: int, code: str, key: str, part: str | None = None, **params: Any) -> FhirError:
        expression = self.where.get(part, self.at) if part else self.at
        return FhirError.of(status, code, key, (expression,), **params)

    @property
    def path(self) -> str:
        return str(self.scalars["path"])


def _parse(parameters: object) -> list[_Op]:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise FhirError.of(400, "structure", "fhirpatch.not_parameters", ("Parameters",))
    items = parameters.get("parameter", [])
    if not isinstance(items, list):
        raise FhirError.of(400, "structure", "fhirpatch.not_parameters", ("Parameters.parameter",))
    return [_parse_operation(item, f"Parameters.parameter[{i}]") for i, item in enumerate(items)]


def _parse_operation(item: object, at: str) -> _Op:
    parts = item.get("part") if isinstance(item, dict) else None
    if not isinstance(item, dict) or item.get("name") != "operation" or not isinstance(parts, list):
        raise FhirError.of(400, "structure", "fhirpatch.not_operation", (at,))
    found: dict[str, tuple[str, Json]] = {}
    for j, part in enumerate(parts):
        where = f"{at}.part[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise FhirError.of(400, "structure", "fhirpatch.part_invalid", (where,))
        name = part["name"]
        if name in found:
            raise FhirError.of(400, "structure", "fhirpatch.part_duplicate", (where,), part=name)
        found[name] = (where, part)
    if "type" not in found:
        raise FhirError.of(400, "required", "fhirpatch.part_missing", (at,), type="?", part="type")
    kind = _scalar("type", *found["type"])
    if kind not in _REQUIRED:
        raise FhirError.of(400, "code-invalid", "fhirpatch.type_unknown", (found["type"][0],), type=kind)
    for name in _REQUIRED[kind]:
        if name not in found:
            raise FhirError.of(400, "required", "fhirpatch.part_missing", (at,), type=kind, part=name)
    for name, (where, _) in found.items():
        if name != "type" and name not in _REQUIRED[kind]:
            raise FhirError.of(400, "structure", "fhirpatch.part_unexpected", (where,), type=kind, part=name)
    scalars = {name: _scalar(name, *found[name]) for name in _REQUIRED[kind] if name != "value"}
    value = found["value"][1] if "value" in found else None
    return _Op(at, kind, {name: where for name, (where, _) in found.items()}, scalars, value)


def _scalar(name: str, where: str, part: Json) -> Any:
    accepted = _SCALAR_KEYS[name]
    keys = [k for k in part if k not in _PART_META]
    value = part.get(keys[0]) if len(keys) == 1 and keys[0] in accepted else None
    wanted = int if accepted is _INTEGER_KEYS else str
    if type(value) is not wanted or (wanted is str and not value):
        raise FhirError.of(400, "structure", "fhirpatch.part_type", (where,), part=name, expected=accepted[0])
    return value


# ---------------------------------------------------------------------------------------------
# Values


def _value_type(part: Json, where: str) -> str | None:
    """The FHIR type of a value part: ``boolean``, ``HumanName``, ``Resource``; None for parts."""
    keys = [k for k in part if k not in _PART_META]
    if len(keys) != 1 or part[keys[0]] is None:
        raise FhirError.of(400, "structure", "fhirpatch.value_invalid", (where,))
    key = keys[0]
    if key == "part":
        return None
    if key == "resource":
        return "Resource"
    suffix = key[5:]
    if not key.startswith("value") or suffix not in CHOICE_SUFFIXES:
        raise FhirError.of(400, "structure", "fhirpatch.value_invalid", (where,))
    lowered = suffix[0].lower() + suffix[1:]
    return lowered if lowered in PRIMITIVE_TYPES else suffix


def _compatible(expected: str, given: str | None) -> bool:
    if given is None:  # anonymous parts build a complex value
        return expected not in PRIMITIVE_TYPES and expected != "Resource"
    if given == expected:
        return True
    family = _FAMILY.get(expected)
    return family is not None and family == _FAMILY.get(given)


def _make_value(part: Json, where: str, elem: Element | None, name: str, depth: int = 0) -> Any:
    """The JSON value of a value part, checked against the element that will hold it."""
    given = _value_type(part, where)
    if elem is not None and not _compatible(elem.type_code, given):
        raise FhirError.of(
            422, "processing", "fhirpatch.wrong_type", (where,),
            given=given or "(parts)", name=name, expected=elem.type_code,
        )  # fmt: skip
    if given is None:
        return _build(part["part"], where, elem.node if elem is not None else None, depth + 1)
    key = "resource" if given == "Resource" else next(k for k in part if k not in _PART_META)
    return _copy(part[key])


def _build(parts: object, where: str, node: Node | None, depth: int) -> Json:
    """An anonymous object from ``parts`` naming its properties (spec: anonymous types)."""
    if depth > _MAX_DEPTH:
        raise FhirError.of(400, "too-costly", "fhirpatch.too_deep", (where,))
    if not isinstance(parts, list) or not parts:
        raise FhirError.of(400, "structure", "fhirpatch.value_invalid", (where,))
    obj: Json = {}
    for j, sub in enumerate(parts):
        sub_where = f"{where}.part[{j}]"
        if not isinstance(sub, dict) or not isinstance(sub.get("name"), str) or not sub["name"]:
            raise FhirError.of(400, "structure", "fhirpatch.part_invalid", (sub_where,))
        key, elem = _child_key(node, sub["name"], _value_type(sub, sub_where), sub_where)
        value = _make_value(sub, sub_where, elem, sub["name"], depth)
        many = elem.many if elem is not None else key in obj
        if many:
            previous = obj.setdefault(key, [])
            if not isinstance(previous, list):
                obj[key] = previous = [previous]
            previous.append(value)
        elif key in obj:
            raise FhirError.of(400, "structure", "fhirpatch.part_duplicate", (sub_where,), part=key)
        else:
            obj[key] = value
    return obj


def _child_key(
    node: Node | None, name: str, given: str | None, where: str, value_where: str | None = None
) -> tuple[str, Element | None]:
    """The JSON key and definition of property ``name`` of ``node`` for a value of type ``given``.

    Errors point at ``where`` (the part naming the property), type errors at ``value_where``.
    """
    value_where = value_where or where
    if node is None:
        return name, None
    elem = node.elements.get(name)
    if elem is not None:
        return name, elem
    if not any(e.choice and e.name == name + "[x]" for e in node.elements.values()):
        raise FhirError.of(
            422, "processing", "fhirpatch.unknown_element", (where,), name=name, type=node.path
        )
    if given is None:
        raise FhirError.of(422, "processing", "fhirpatch.choice_untyped", (value_where,), name=name)
    key = name + given[0].upper() + given[1:]
    elem = node.elements.get(key)
    if elem is None or elem.name != name + "[x]":
        raise FhirError.of(
            422,
            "processing",
            "fhirpatch.wrong_type",
            (value_where,),
            given=given,
            name=name,
            expected=name + "[x]",
        )
    return key, elem


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Location-aware FHIRPath evaluation


@dataclass(slots=True)
class _Loc:
    """Where an element lives: ``holder.value[key]`` (``[index]`` for an array item)."""

    value: Any
    holder: _Loc | None  # None for the resource itself
    key: str
    index: int | None
    elem: Element | None  # R4 definition, when known
    node: Node | None  # element table of the value's type, when complex and known


def _node_of(elem: Element | None, value: Any) -> Node | None:
    if elem is None:
        return None
    if elem.is_resource:
        return resource_node(value.get("resourceType", "")) if isinstance(value, dict) else None
    return elem.node


def _keys_for(node: Node | None, obj: Json, name: str) -> list[str]:
    if name in obj:
        return [name]
    if node is not None:
        return [k for k, e in node.elements.items() if e.choice and e.name == name + "[x]" and k in obj]
    if name in CHOICE_ELEMENTS:
        return [k for k in obj if k.startswith(name) and k[len(name) :] in CHOICE_SUFFIXES]
    return []


def _children(loc: _Loc, name: str) -> list[_Loc]:
    obj = loc.value
    if not isinstance(obj, dict):
        return []
    out: list[_Loc] = []
    for key in _keys_for(loc.node, obj, name):
        elem = loc.node.elements.get(key) if loc.node is not None else None
        value = obj[key]
        if isinstance(value, list):
            out.extend(
                _Loc(item, loc, key, i, elem, _node_of(elem, item))
                for i, item in enumerate(value)
                if item is not None
            )
        elif value is not None:
            out.append(_Loc(value, loc, key, None, elem, _node_of(elem, value)))
    return out


class _UnsupportedError(Exception):
    """A FHIRPath construct outside what patch paths support."""


def _type_matches(loc: _Loc, type_name: str) -> bool:
    if loc.elem is not None and loc.elem.choice:
        return loc.elem.type_code in (type_name, type_name[:1].lower() + type_name[1:])
    return is_type(loc.value, type_name)


def _eval(node: _Node, focus: list[_Loc], root: Json) -> list[_Loc]:
    if isinstance(node, _Ident):
        if node.name[:1].isupper():
            return [
                loc
                for loc in focus
                if isinstance(loc.value, dict) and loc.value.get("resourceType") == node.name
            ]
        return [child for loc in focus for child in _children(loc, node.name)]
    if isinstance(node, _Member):
        return [child for loc in _eval(node.base, focus, root) for child in _children(loc, node.name)]
    if isinstance(node, _Index):
        index = node.index.values if isinstance(node.index, _Literal) else ()
        if len(index) != 1 or type(index[0]) is not int:
            raise _UnsupportedError("[…]")
        return _eval(node.base, focus, root)[index[0] : index[0] + 1]
    if isinstance(node, _TypeOp) and node.op == "as":
        return [loc for loc in _eval(node.operand, focus, root) if _type_matches(loc, node.type_name)]
    if isinstance(node, _Call):
        return _eval_call(node, focus, root)
    feature = getattr(node, "op", None) or getattr(node, "name", None) or type(node).__name__.strip("_")
    raise _UnsupportedError(str(feature))


def _eval_call(call: _Call, focus: list[_Loc], root: Json) -> list[_Loc]:
    base = _eval(call.base, focus, root) if call.base is not None else focus
    name, args = call.name, call.args
    if name in ("first", "last", "single") and not args:
        if name == "first":
            return base[:1]
        return base[-1:] if name == "last" else base
    if name == "where" and len(args) == 1:
        criteria = _compile(args[0])
        return [loc for loc in base if _singleton_bool(criteria([loc.value], root)) is True]
    if name == "extension" and len(args) == 1 and isinstance(args[0], _Literal):
        url = args[0].values[0] if args[0].values else None
        return [ext for loc in base for ext in _children(loc, "extension") if _url_of(ext) == url]
    if name == "ofType" and len(args) == 1 and isinstance(args[0], _Ident):
        type_name = args[0].name
        return [loc for loc in base if _type_matches(loc, type_name)]
    raise _UnsupportedError(f"{name}()")


def _url_of(loc: _Loc) -> Any:
    return loc.value.get("url") if isinstance(loc.value, dict) else None


def _parse_path(op: _Op) -> _Node:
    try:
        return _Parser(op.path).parse()
    except FhirPathError as exc:
        raise op.fail(400, "invalid", "fhirpatch.path_syntax", "path", path=op.path, detail=str(exc)) from exc


def _root(resource: Json) -> _Loc:
    return _Loc(resource, None, "", None, None, resource_node(str(resource.get("resourceType", ""))))


def _locate(op: _Op, tree: _Node, resource: Json) -> list[_Loc]:
    try:
        return _eval(tree, [_root(resource)], resource)
    except _UnsupportedError as exc:
        raise op.fail(
            422, "not-supported", "fhirpatch.path_unsupported", "path", path=op.path, feature=str(exc)
        ) from exc
    except FhirPathError as exc:
        raise op.fail(
            422, "processing", "fhirpatch.path_eval", "path", path=op.path, detail=str(exc)
        ) from exc


def _one(op: _Op, locs: list[_Loc]) -> _Loc:
    if not locs:
        raise op.fail(422, "not-found", "fhirpatch.no_match", "path", path=op.path)
    if len(locs) > 1:
        raise op.fail(422, "multiple-matches", "fhirpatch.ambiguous", "path", path=op.path, count=len(locs))
    return locs[0]


# ---------------------------------------------------------------------------------------------
# Mutations


def _shadow(obj: Json, key: str) -> list[Any] | None:
    """The ``_key`` array of primitive extensions aligned with ``obj[key]``, if any."""
    shadow = obj.get("_" + key)
    return shadow if isinstance(shadow, list) else None


def _tidy(obj: Json, key: str) -> None:
    items = obj.get(key)
    if isinstance(items, list) and not items:
        del obj[key]
    shadow = _shadow(obj, key)
    if shadow is not None and (key not in obj or all(x is None for x in shadow)):
        del obj["_" + key]


def _remove(loc: _Loc) -> None:
    holder = loc.holder
    assert holder is not None
    obj: Json = holder.value
    if loc.index is None:
        obj.pop(loc.key, None)
        obj.pop("_" + loc.key, None)
    else:
        del obj[loc.key][loc.index]
        shadow = _shadow(obj, loc.key)
        if shadow is not None and loc.index < len(shadow):
            del shadow[loc.index]
        _tidy(obj, loc.key)
    if not obj and holder.holder is not None:
        _remove(holder)


def _items(obj: Json, key: str) -> list[Any]:
    """The array at ``obj[key]``, created (padded to its ``_key`` array) when absent."""
    items: list[Any] | None = obj.get(key)
    if items is None:
        shadow = _shadow(obj, key)
        items = obj[key] = [None] * (len(shadow) if shadow is not None else 0)
    return items


def _add(op: _Op, resource: Json) -> None:
    target = _one(op, _locate(op, _parse_path(op), resource))
    name = str(op.scalars["name"])
    if not isinstance(target.value, dict):
        raise op.fail(422, "processing", "fhirpatch.not_container", "path", path=op.path, name=name)
    assert op.value is not None
    where = op.where["value"]
    key, elem = _child_key(target.node, name, _value_type(op.value, where), op.where["name"], where)
    value = _make_value(op.value, where, elem, name)
    obj: Json = target.value
    existing = obj.get(key)
    many = elem.many if elem is not None else isinstance(existing, list)
    if many:
        if existing is not None and not isinstance(existing, list):
            raise op.fail(422, "processing", "fhirpatch.already_present", "name", name=name)
        _items(obj, key).append(value)
        shadow = _shadow(obj, key)
        if shadow is not None:
            shadow.append(None)
        return
    siblings = [k for k in obj if k == key or (elem is not None and _same_choice(target.node, k, elem))]
    if siblings:
        raise op.fail(422, "processing", "fhirpatch.already_present", "name", name=siblings[0])
    obj[key] = value


def _same_choice(node: Node | None, key: str, elem: Element) -> bool:
    other = node.elements.get(key) if node is not None else None
    return elem.choice and other is not None and other.name == elem.name


def _collection(op: _Op, resource: Json) -> tuple[Json, str, Element | None]:
    """For insert/move: the object holding the list named by the last step of the path."""
    tree = _parse_path(op)
    if isinstance(tree, _Member):
        holders = _locate(op, tree.base, resource)
        name = tree.name
    elif isinstance(tree, _Ident) and not tree.name[:1].isupper():
        holders = [_root(resource)]
        name = tree.name
    else:
        raise op.fail(422, "processing", "fhirpatch.not_list", "path", path=op.path)
    holder = _one(op, holders)
    elem = holder.node.elements.get(name) if holder.node is not None else None
    existing = holder.value.get(name) if isinstance(holder.value, dict) else None
    if (
        not isinstance(holder.value, dict)
        or (elem is not None and not elem.many)
        or not isinstance(existing, list | None)
    ):
        raise op.fail(422, "processing", "fhirpatch.not_list", "path", path=op.path)
    if holder.node is not None and elem is None:
        raise op.fail(
            422, "processing", "fhirpatch.unknown_element", "path", name=name, type=holder.node.path
        )
    return holder.value, name, elem


def _check_index(op: _Op, part: str, length: int) -> int:
    index = int(op.scalars[part])
    if not 0 <= index <= length:
        raise op.fail(422, "processing", "fhirpatch.index_range", part, index=index, max=length, path=op.path)
    return index


def _insert(op: _Op, resource: Json) -> None:
    obj, key, elem = _collection(op, resource)
    assert op.value is not None
    value = _make_value(op.value, op.where["value"], elem, key)
    items = _items(obj, key)
    index = _check_index(op, "index", len(items))
    items.insert(index, value)
    shadow = _shadow(obj, key)
    if shadow is not None:
        shadow.insert(index, None)


def _move(op: _Op, resource: Json) -> None:
    obj, key, _ = _collection(op, resource)
    items = obj.get(key)
    if not items:
        raise op.fail(422, "not-found", "fhirpatch.no_match", "path", path=op.path)
    source = _check_index(op, "source", len(items) - 1)
    destination = _check_index(op, "destination", len(items) - 1)
    for array in (items, _shadow(obj, key)):
        if array is not None and len(array) == len(items):
            array.insert(destination, array.pop(source))


def _delete(op: _Op, resource: Json) -> None:
    locs = _locate(op, _parse_path(op), resource)
    if not locs:
        return
    loc = _one(op, locs)
    if loc.holder is None:
        raise op.fail(422, "processing", "fhirpatch.root", "path")
    _remove(loc)


def _replace(op: _Op, resource: Json) -> None:
    loc = _one(op, _locate(op, _parse_path(op), resource))
    holder = loc.holder
    if holder is None:
        raise op.fail(422, "processing", "fhirpatch.root", "path")
    assert op.value is not None
    where = op.where["value"]
    key, elem = loc.key, loc.elem
    given = _value_type(op.value, where)
    if elem is not None and elem.choice and given is not None:
        key, elem = _child_key(holder.node, elem.name[:-3], given, where)
    value = _make_value(op.value, where, elem, loc.key)
    obj: Json = holder.value
    if loc.index is not None:
        obj[key][loc.index] = value
    elif key == loc.key:
        obj[key] = value
    else:
        obj.pop(loc.key)
        obj.pop("_" + loc.key, None)
        obj[key] = value


_APPLY: Final = {"add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Apply a FHIRPath Patch ``Parameters`` resource to ``resource`` and return the patched copy.

    Neither argument is modified. Raises :class:`FhirError` 400 for a malformed Parameters, 422
    for a patch that cannot be applied; issue expressions point into the Parameters.
    """
    operations = _parse(parameters)
    patched: Json = _copy(resource)
    for op in operations:
        _APPLY[op.kind](op, patched)
    return patched
