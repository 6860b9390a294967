"""The accessibility check itself: axe-core runs on our pages (their CSP allows no inline script)
and reports what it finds."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.support import Site, assert_accessible


def test_axe_runs_under_the_pages_policy_and_reports_violations(page: Page, site: Site) -> None:
    page.goto(site.url("/login"))
    assert_accessible(page)
    # Break the page the way a careless template would: an unlabelled field, a nameless image.
    page.evaluate(
        "() => { document.querySelector('label[for=username]').remove();"
        " document.querySelector('main').append(document.createElement('img')); }"
    )
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    assert "label" in str(failure.value) and "image-alt" in str(failure.value)
