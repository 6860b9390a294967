"""Finding a drug to prescribe among the marketed BDPM products (hygie/cds/catalogue.py)."""

from __future__ import annotations

import pytest

from hygie.cds import catalogue
from hygie.cds.hooks_evaluate import knowledge


@pytest.mark.parametrize(
    ("query", "first", "substance"),
    [
        ("kardegic 75", "KARDEGIC 75 mg", "ACIDE ACETYLSALICYLIQUE"),  # brand and strength
        ("KARDÉGIC", "KARDEGIC", "ACIDE ACETYLSALICYLIQUE"),  # case and accents folded
        ("coumadine", "COUMADINE", "WARFARINE"),
        ("warfarine", "COUMADINE", "WARFARINE"),  # by substance: the product that contains it
        ("metf 850", "GLUCOPHAGE 850 mg", "METFORMINE"),  # word prefixes, in any product word
        ("xarelto 20", "XARELTO", "RIVAROXABAN"),
    ],
)
def test_search_by_brand_or_substance(query: str, first: str, substance: str) -> None:
    found = catalogue.search(knowledge(), query)
    assert found and found[0].name.startswith(first), [p.name for p in found[:5]]
    assert substance in {name for name, _ in found[0].substances}
    assert all(len(p.cis) == 8 and p.cis.isdigit() for p in found)


@pytest.mark.parametrize("query", ["", "ab", " a b ", "zzzzqqq", "<script>", "x" * 5000])
def test_short_unknown_or_hostile_queries_find_nothing(query: str) -> None:
    assert catalogue.search(knowledge(), query) == []


def test_the_name_that_starts_with_the_query_comes_first_and_the_limit_holds() -> None:
    found = catalogue.search(knowledge(), "paracetamol", limit=40)
    assert len(found) == 40
    starts = [p.name.upper().startswith("PARAC") for p in found]
    assert starts == sorted(starts, reverse=True)  # every "PARACETAMOL …" before "DOLIPRANE …"
    assert len(catalogue.search(knowledge(), "paracetamol")) == catalogue.LIMIT


def test_only_marketed_products_of_the_current_edition_are_offered() -> None:
    kb = knowledge()
    offered = {p.cis for p in catalogue.search(kb, "ranitidine", limit=500)}
    for cis in offered:
        assert kb.products[cis].get("m") == 1 and kb.products[cis]["y"] == "2026"
    old = next(c for c, p in kb.products.items() if p["y"] == "2017")
    unmarketed = next(c for c, p in kb.products.items() if p["y"] == "2026" and not p.get("m"))
    assert catalogue.product(kb, old) is None and catalogue.product(kb, unmarketed) is None
    assert catalogue.product(kb, "00000000") is None


def test_atc_only_for_a_single_substance() -> None:
    kb = knowledge()
    aspirin = catalogue.search(kb, "kardegic 75")[0]
    assert aspirin.atc == "B01AC06"
    combination = next(p for p in catalogue.search(kb, "amoxicilline clavulanique") if len(p.substances) == 2)
    assert combination.atc is None


def test_the_server_warms_the_knowledge_and_the_search_up_once() -> None:
    from hygie.cds import hooks_evaluate

    hooks_evaluate.warm_up()
    hooks_evaluate.warm_up()  # once per process
    assert len(hooks_evaluate._warming) == 1
    hooks_evaluate._warming[0].join(timeout=120)
    assert not hooks_evaluate._warming[0].is_alive()
    assert hooks_evaluate._knowledge.cache_info().currsize == 1
    assert catalogue._build.cache_info().currsize >= 1  # built: the first search does not wait
