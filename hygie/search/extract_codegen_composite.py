"""Generated code for composite search parameters (:mod:`hygie.search.extract_codegen`).

Spec: https://hl7.org/fhir/R4/search.html#composite — the components of one element are paired,
never those of different elements. Rows are those of :func:`hygie.search.composite.plan_entries`,
in the same order: the elements of the group's members by identity (each with the codes of the
members reaching it, in member order); per element, the distinct slots of each component (an
element with a component lacking slots gives no row); one row per code and combination of slots.

Groups whose members have the same bases (Observation's ``code-value-*`` groups all read
``Observation``, ``Observation | Observation.component`` and ``Observation.component``) collect
their elements once, as member indices. The slots of token (CodeableConcept) and quantity
components are written inline, the others by :func:`hygie.search.composite.component_slots`.
"""

from __future__ import annotations

from hygie.search.composite import MAX_COMPONENTS, SLOT_COLUMNS, Group, Part, relative_steps
from hygie.search.extract_codegen_paths import (
    ROOT,
    Body,
    Writer,
    branches,
    concept_test,
    number_of,
    quantity_test,
    root_items,
    values,
    walk,
)

__all__ = ["composite"]


def composite(w: Writer, group: Group, resource_type: str) -> None:
    """Emit the rows of ``group`` (at the function's top level)."""
    elements = _elements(w, group, resource_type)
    element, indices, index = w.fresh("element"), w.fresh("indices"), w.fresh("index")
    codes = tuple(code for code, _, _, _ in group.members)
    # The resource is the first element of a group whose first base is the resource itself: its
    # components' values are the lookups already made on it (Observation.code...).
    on_root: dict[int, list[str]] = {}
    if group.members[0][1]:
        for part in group.parts:
            steps = relative_steps(part.expression)
            if steps is not None:
                on_root[id(part)] = [root_items(w, step) for step in steps]
    with w.block(f"for {element}, {indices} in {elements}.values():"):
        relative = all(relative_steps(part.expression) is not None for part in group.parts)
        if relative:
            w(f"if type({element}) is not dict: continue")  # relative components have no values
        slots = {id(part): w.fresh("slots") for part in group.parts}
        for part in reversed(group.parts):  # the last first: a value is more often absent than a code
            _slots(w, part, element, relative, slots[id(part)], on_root.get(id(part)))
            w(f"if not {slots[id(part)]}: continue")
        padding = (None,) * (len(SLOT_COLUMNS) * (MAX_COMPONENTS - len(group.parts)))
        picks = [w.fresh("slot") for _ in group.parts]
        loops = [f"for {index} in {indices}:"]
        loops += [f"for {pick} in {slots[id(part)]}:" for pick, part in zip(picks, group.parts, strict=True)]
        start = w.depth
        for loop in loops:
            w(loop)
            w.depth += 1
        w.append("composite", " + ".join([f"({codes!r}[{index}],)", *picks, repr(padding)]))
        w.depth = start


def _elements(w: Writer, group: Group, resource_type: str) -> str:
    """The variable holding ``{id(element): (element, [member index...])}``, written once for the
    groups with the same bases."""
    # With relative components only, an element reached twice by a member (a union's branches)
    # gives the same rows twice, which the final dedupe removes: no need to make bases distinct.
    relative = all(relative_steps(part.expression) is not None for part in group.parts)
    key = ("elements", relative, tuple((whole, expression) for _, whole, expression, _ in group.members))
    name = w.shared.get(key, "")
    if name:
        return name
    name = w.shared[key] = w.fresh_global("elements")
    whole_first = group.members[0][1]
    w(f"{name} = {{id({ROOT}): ({ROOT}, [0])}}" if whole_first else f"{name} = {{}}")
    for index, (_, whole, expression, compiled) in enumerate(group.members):
        if index == 0 and whole_first:
            continue

        def add(item: str, index: int = index) -> None:
            seen = w.fresh("seen")
            w(f"{seen} = {name}.get(id({item}))")
            with w.block(f"if {seen} is None:"):
                w(f"{name}[id({item})] = ({item}, [{index}])")
            with w.block("else:"):
                w(f"{seen}[1].append({index})")

        found = None if whole else branches(expression, resource_type)
        if whole:
            add(ROOT)
        elif found is None:  # the plan's compiled base
            item = w.fresh("y")
            with w.block(f"for {item} in {w.constant('base', compiled)}({ROOT}):"):
                add(item)
        elif relative and found[1]:  # a union: its branches one after the other
            for steps in found[0]:
                walk(w, ROOT, True, steps, add)
        elif found[0]:
            values(w, found[0], found[1], add)
    return name


def _slots(w: Writer, part: Part, element: str, is_dict: bool, name: str, on_root: list[str] | None) -> None:
    """``name`` = the distinct slots of ``part`` on ``element`` (a dict if ``is_dict``), as
    :func:`hygie.search.composite.component_slots` gives them. ``on_root``: the variables holding
    each branch's values on the resource, when the element may be the resource."""
    constant = w.constant("part", part)
    steps = relative_steps(part.expression)
    if steps is None:  # %resource… or another shape: the part's own evaluation
        w(f"{name} = component_slots({constant}, {constant}.evaluate({ROOT}, {element}), tz, types)")
        return

    def each_value(body: Body) -> None:  # every branch's values on the element
        if not on_root:
            for step in steps:
                walk(w, element, is_dict, (step,), body)
            return
        with w.block(f"if {element} is {ROOT}:"):
            for items in on_root:
                item = w.fresh("x")
                with w.block(f"for {item} in {items}:"):
                    body(item)
        with w.block("else:"):
            for step in steps:
                walk(w, element, is_dict, (step,), body)

    inline = _INLINE_SLOTS.get(part.type)
    if inline is None or len(steps) > 1:  # unions are made distinct before conversion
        collected = w.fresh("values")
        w(f"{collected} = []")
        each_value(lambda item: w(f"{collected}.append({item})"))
        union = f"distinct_union({collected})" if len(steps) > 1 else collected
        w(f"{name} = component_slots({constant}, {union}, tz, types) if {collected} else []")
        return
    w(f"{name} = []")
    each_value(lambda item: inline(w, item, name, constant))
    with w.block(f"if len({name}) > 1:"):
        w(f"{name} = list(dict.fromkeys({name}))")


def _token_slots(w: Writer, item: str, name: str, part: str) -> None:
    codings, coding, system, code = w.fresh("codings"), w.fresh("coding"), w.fresh("system"), w.fresh("code")
    test = f"if {concept_test(item, codings)}:"
    with w.block(test), w.block(f"for {coding} in {codings}:"), w.block(f"if type({coding}) is dict:"):
        w(f"{system}, {code} = {coding}.get('system'), {coding}.get('code')")
        with w.block(f"if {system} is not None or {code} is not None:"):
            w(f"{name}.append(({system} or '', {code} or '', None, None, None, None))")
    with w.block("else:"):
        w(f"{name} += component_slots({part}, [{item}], tz, types)")


def _quantity_slots(w: Writer, item: str, name: str, part: str) -> None:
    found, unit_code, unit = w.fresh("found"), w.fresh("unit_code"), w.fresh("unit")
    with w.block(f"if {quantity_test(item)}:"):
        w(f"{found} = {number_of(item, w.fresh('number'))}")
        with w.block(f"if {found} is not None:"):
            w(f"{unit_code}, {unit} = {item}.get('code'), {item}.get('unit')")
            row = f"{item}.get('system') or '', {unit_code} or '', None, {found}[0], {found}[1], {found}[2]"
            w(f"{name}.append(({row}))")
            with w.block(f"if type({unit}) is str and {unit} != {unit_code}:"):
                w(f"{name}.append(('', {unit} or '', None, {found}[0], {found}[1], {found}[2]))")
    with w.block("else:"):
        w(f"{name} += component_slots({part}, [{item}], tz, types)")


_INLINE_SLOTS = {"token": _token_slots, "quantity": _quantity_slots}
