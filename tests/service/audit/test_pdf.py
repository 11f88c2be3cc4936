"""The evidence PDF, rendered by PDFium: a real page image and the text a reader would copy."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine

from service.audit.evidence import Evidence, build_evidence
from service.audit.export import InvalidExport, build_bundle
from service.audit.pdf import evidence_pdf
from service.auth.attributes import PERSONAL_PATHS
from service.auth.policy import load_policy
from service.auth.principal import Principal
from service.persistence import make_engine, migrate, save_decision, save_label
from service.settings import ServiceSettings
from tests.service.audit.test_export import DECIDED, keyed_settings, order_payload
from tests.service.persistence.samples import sample_decision

ORDER = "pdf-1"
PAYLOAD = "<b>x</b><font size=99>"
LEGAL = Principal("user", "u-legal", "legal", "legal")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceSettings, Engine]]:
    settings = keyed_settings(tmp_path_factory.mktemp("pdf"))
    engine = make_engine(settings.db_url)
    migrate(engine)
    payload = {**order_payload(ORDER), "device": {"fingerprint": "fp-1", "user_agent": PAYLOAD}}
    decision = sample_decision(ORDER, decided_at=DECIDED, order_payload=payload)
    save_decision(engine, decision, open_case=False, personal=PERSONAL_PATHS)
    save_label(engine, ORDER, "fraud", PAYLOAD, DECIDED + timedelta(days=2), "api")
    yield settings, engine
    engine.dispose()


@pytest.fixture(scope="module")
def evidence(stored: tuple[ServiceSettings, Engine]) -> Evidence:
    settings, engine = stored
    return build_evidence(engine, settings, LEGAL, ORDER)


@pytest.fixture(scope="module")
def bundle(stored: tuple[ServiceSettings, Engine]) -> dict[str, Any]:
    settings, engine = stored
    return build_bundle(engine, settings, ORDER, "legal", load_policy(), export="pdf")


def pages_text(document: bytes) -> str:
    """Return the text of every page, whitespace collapsed (lines wrap anywhere)."""
    pdf = pdfium.PdfDocument(document)
    try:
        found = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            found.append(textpage.get_text_range())
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return " ".join(" ".join(found).split())


def collapsed(text: str) -> str:
    return " ".join(text.split())


def test_the_first_page_renders_to_a_non_blank_image_of_a4_size(
    evidence: Evidence, bundle: dict[str, Any]
) -> None:
    document = evidence_pdf(evidence, bundle)
    assert document.startswith(b"%PDF-")
    pdf = pdfium.PdfDocument(document)
    try:
        page = pdf[0]
        width, height = page.get_size()
        assert (round(width), round(height)) == (595, 842), "A4 in points"
        image = page.render(scale=1).to_pil().convert("L")
        page.close()
    finally:
        pdf.close()
    assert abs(image.size[0] - 595) <= 1 and abs(image.size[1] - 842) <= 1
    histogram = image.histogram()
    dark = sum(histogram[:128])
    assert dark > 0.005 * image.size[0] * image.size[1], "text and rules are drawn"
    assert histogram[255] > 0.5 * image.size[0] * image.size[1], "on a white page"


def test_the_text_holds_the_order_the_summary_and_the_checkpoint(
    evidence: Evidence, bundle: dict[str, Any]
) -> None:
    text = pages_text(evidence_pdf(evidence, bundle))
    assert f"Evidence of the decision on order {ORDER}" in text
    assert collapsed(evidence.summary) in text
    point = bundle["checkpoint"]
    for value in (point["root"], point["key_id"], f"log size {point['size']}"):
        assert str(value) in text
    assert "base value" in text and "raises the risk" in text, "the waterfall is drawn"
    assert "label.fraud" in text and "decision.created" in text, "the audit entries"
    assert "jane@example.com" in text, "legal sees the e-mail"


def test_markup_in_any_value_stays_literal(evidence: Evidence, bundle: dict[str, Any]) -> None:
    hostile = dataclasses.replace(evidence, summary=f"summary {PAYLOAD} & more")
    text = pages_text(evidence_pdf(hostile, bundle))
    assert f"summary {PAYLOAD} & more" in text
    assert text.count(PAYLOAD) >= 3, "the summary, the user agent and the label's reason"


def test_a_role_that_sees_less_gets_less_in_the_pdf(stored: tuple[ServiceSettings, Engine]) -> None:
    settings, engine = stored
    admin = Principal("user", "u-admin", "admin", "admin")
    text = pages_text(evidence_pdf(build_evidence(engine, settings, admin, ORDER)))
    assert "jane@example.com" not in text
    assert "j***@example.com" in text
    assert "No bundle was exported with this document" in text
    assert "The signed evidence bundle is exported by legal" in text
    assert "Merkle root" not in text


def test_admin_gets_no_bundle_to_go_with_its_pdf(stored: tuple[ServiceSettings, Engine]) -> None:
    settings, engine = stored
    with pytest.raises(InvalidExport, match="a bundle is exported by legal"):
        build_bundle(engine, settings, ORDER, "admin", load_policy(), export="pdf")


def test_legal_without_a_bundle_is_not_told_to_ask_legal(evidence: Evidence) -> None:
    text = pages_text(evidence_pdf(evidence))
    assert "No bundle was exported with this document" in text
    assert "exported by legal" not in text


def test_an_evidence_without_inputs_still_renders(evidence: Evidence, tmp_path: Path) -> None:
    bare = dataclasses.replace(evidence, features=(), review=(), stock=(), webhooks=(), labels=())
    assert "none" in pages_text(evidence_pdf(bare))
