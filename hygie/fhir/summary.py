"""Subsets of a resource: ``_summary=true``, ``_summary=text``, ``_elements`` and the SUBSETTED tag.

Spec: https://hl7.org/fhir/R4/search.html#summary, https://hl7.org/fhir/R4/search.html#elements,
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary

- ``_summary=true`` (:func:`summarize`): the elements marked ``isSummary`` in the base definition,
  recursively: within a complex or backbone element only its own summary elements are kept (for data
  types that is nearly everything, but not ``Attachment.data``, nor ``id``/``extension``, which
  ``Element`` does not mark as summary; primitive companions ``_x`` carry only those and go too).
  ``id``, ``meta`` and ``implicitRules`` are summary elements of ``Resource``; ``text`` and
  ``contained`` are not. An extension in the summary (``modifierExtension``: a modifier is always
  in it) is kept whole, since an extension without its value would be meaningless. Resources inside
  a resource (``Bundle.entry.resource``, ``Parameters.parameter.resource``) are summarised the same
  way and tagged SUBSETTED.
- ``_summary=text`` (:func:`text_summary`): "only the text element, the id element, the meta element,
  and only top-level mandatory elements".
- ``_elements`` (:func:`elements`): the listed base (top-level) element names; a choice element is
  named without its type (``value`` selects ``valueQuantity``). "Servers SHOULD always return
  mandatory elements whether they are requested or not", so top-level elements with min >= 1 stay,
  and so do ``id`` and ``meta`` (which carries the SUBSETTED tag).
- :func:`mark_subsetted` adds the ``v3-ObservationValue#SUBSETTED`` tag once.

No function mutates its input. The results are new dicts, but a value carried over unchanged (a
whole element kept by ``_elements``, a primitive) may be the same object as in the input: copy
before mutating a result in place. The per-type tables are the compiled definitions of
:mod:`hygie.fhir.definitions` (:attr:`Node.summary`) plus small per-node caches here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Final

from hygie.fhir.definitions import Element, Node, resource_node

SUBSETTED_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_CODE: Final = "SUBSETTED"
_RESOURCE_SUMMARY: Final = ("resourceType", "id", "meta", "implicitRules")
_ALWAYS: Final = frozenset({"resourceType", "id", "meta"})
_TEXT_ALWAYS: Final = frozenset({"resourceType", "id", "meta", "text"})
_DROP: Final = object()

Json = dict[str, Any]


def summarize(resource: Json) -> Json:
    """The ``_summary=true`` form of ``resource`` (not tagged: see :func:`mark_subsetted`)."""
    node = _node_of(resource)
    if node is None:  # not a known resource type: keep only what every resource summarises
        return {k: resource[k] for k in _RESOURCE_SUMMARY if k in resource}
    out: Json = {"resourceType": resource["resourceType"]}
    out.update(_summarize_object(resource, node))
    return out


def text_summary(resource: Json) -> Json:
    """The ``_summary=text`` form: ``text``, ``id``, ``meta`` and the top-level mandatory elements."""
    node = _node_of(resource)
    mandatory = _mandatory_keys(node) if node is not None else frozenset()
    return {k: v for k, v in resource.items() if k in _TEXT_ALWAYS or k in mandatory}


def elements(resource: Json, names: Iterable[str]) -> Json:
    """The ``_elements`` subset: the named top-level elements plus ``id``, ``meta`` and mandatory ones.

    ``names`` are element names as defined (``value``, or ``value[x]``, for ``value[x]``); a JSON
    property name (``valueQuantity``) is accepted too and selects that one type. Unknown names (and
    paths such as ``name.given``: R4 allows base elements only) select nothing.
    Primitive companions (``_birthDate``) follow their element.
    """
    wanted = frozenset(name.strip().removesuffix("[x]") for name in names)
    node = _node_of(resource)
    if node is None:
        return {k: v for k, v in resource.items() if k in _ALWAYS or k.lstrip("_") in wanted}
    mandatory = _mandatory_keys(node)
    key_names = _key_names(node)
    out: Json = {}
    for key, value in resource.items():
        if (
            key in _ALWAYS
            or key in mandatory
            or key_names.get(key, key) in wanted
            or key.removeprefix("_") in wanted
        ):
            out[key] = value
    return out


@cache
def element_names(resource_type: str) -> frozenset[str]:
    """What :func:`elements` selects by in ``resource_type``: its top-level element names
    (``value``) and JSON property names (``valueQuantity``); empty for an unknown type."""
    node = resource_node(resource_type)
    if node is None:
        return frozenset()
    return frozenset(_key_names(node).values()) | set(node.elements)


def mark_subsetted(resource: Json) -> Json:
    """A copy of ``resource`` whose ``meta.tag`` holds the SUBSETTED tag exactly once."""
    meta = resource.get("meta")
    new_meta: Json = dict(meta) if isinstance(meta, dict) else {}
    tags = new_meta.get("tag")
    tag_list: list[Any] = list(tags) if isinstance(tags, list) else []
    if not any(_is_subsetted_tag(tag) for tag in tag_list):
        tag_list.append({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE, "display": "subsetted"})
    new_meta["tag"] = tag_list
    if "meta" in resource:
        return {k: (new_meta if k == "meta" else v) for k, v in resource.items()}
    out: Json = {}
    for key, value in resource.items():  # meta goes right after resourceType/id, as in the spec's order
        if key not in ("resourceType", "id") and "meta" not in out:
            out["meta"] = new_meta
        out[key] = value
    out.setdefault("meta", new_meta)
    return out


def is_subsetted(resource: Json) -> bool:
    """Whether ``resource`` carries the SUBSETTED tag (it must not be used to overwrite a full one)."""
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return isinstance(tags, list) and any(_is_subsetted_tag(tag) for tag in tags)


# --- internals ----------------------------------------------------------------------------------


def _is_subsetted_tag(tag: object) -> bool:
    return (
        isinstance(tag, dict) and tag.get("system") == SUBSETTED_SYSTEM and tag.get("code") == SUBSETTED_CODE
    )


def _node_of(resource: Json) -> Node | None:
    resource_type = resource.get("resourceType")
    return resource_node(resource_type) if isinstance(resource_type, str) else None


def _summarize_object(obj: Json, node: Node) -> Json:
    out: Json = {}
    summary = node.summary
    for key, value in obj.items():
        if key in summary:
            kept = _summarize_value(value, node.elements[key])
            if kept is not _DROP:
                out[key] = kept
    return out


def _summarize_value(value: Any, element: Element) -> Any:
    if isinstance(value, list):
        items = [_summarize_item(item, element) for item in value if item is not None]
        kept = [item for item in items if item is not _DROP]
        return kept if kept else _DROP
    return _summarize_item(value, element)


def _summarize_item(value: Any, element: Element) -> Any:
    if element.primitive:
        return value  # str, bool, int, float: immutable
    if not isinstance(value, dict):
        return _DROP  # malformed complex value: nothing summarisable
    if element.is_resource:
        return mark_subsetted(summarize(value))
    if element.type_code == "Extension":
        return value  # a kept (modifier) extension stays whole: Extension.value[x] is not "summary"
    if element.node is None:
        return _DROP
    summarized = _summarize_object(value, element.node)
    return summarized if summarized else _DROP


@cache
def _mandatory_keys(node: Node) -> frozenset[str]:
    """JSON keys (with ``_`` companions) of the node's elements of min >= 1."""
    return frozenset(key for _name, _min, keys in node.required for key in keys)


@cache
def _key_names(node: Node) -> dict[str, str]:
    """JSON key (``valueQuantity``, ``_birthDate``) -> element name as requested (``value``)."""
    names: dict[str, str] = {}
    for key, element in node.elements.items():
        name = element.name.removesuffix("[x]")
        names[key] = name
        if element.primitive:
            names["_" + key] = name
    return names
