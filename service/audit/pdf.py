"""A decision's evidence as a PDF, for a reader without the service (reportlab platypus).

Every value is shown as text: a Paragraph reads markup, so each one is escaped
before it is laid out, and the waterfall draws plain strings. When the PDF goes
with a bundle, it lists the bundle's entries and checkpoint, so a reader can
match the document with `ordershield audit verify-bundle` and the signed tree head.
Without one (a role that may not receive a bundle), it says who exports it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Line, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from service.audit.evidence import Evidence, FeatureRow

MARGIN: float = 18 * mm
WIDTH: float = A4[0] - 2 * MARGIN
WATERFALL_BARS = 12
RAISES = colors.HexColor("#b03a2e")
LOWERS = colors.HexColor("#2e6da4")
HEADER = colors.HexColor("#e8ecf1")
_SHEET = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_SHEET["BodyText"], fontSize=9, leading=12)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9.5)
HEAD = ParagraphStyle("head", parent=CELL, fontName="Helvetica-Bold")
H1 = ParagraphStyle("h1", parent=_SHEET["Title"], fontSize=16, leading=20)
H2 = ParagraphStyle("h2", parent=_SHEET["Heading2"], fontSize=11, leading=14, spaceBefore=8)


def text(value: Any, style: ParagraphStyle = BODY) -> Paragraph:
    """Return a paragraph that shows `value` literally, whatever markup it holds."""
    return Paragraph(escape(str(value)), style)


def when(moment: datetime | str | None) -> str:
    """Return a time as the document writes it, in UTC."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if moment is None else str(moment)


def number(value: float | None, missing: str = "missing") -> str:
    """Return a number as the tables show it."""
    return missing if value is None else f"{value:.6g}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float]) -> Table:
    """Return a table of escaped text cells, its header repeated on every page."""
    cells = [[text(h, HEAD) for h in header]]
    cells += [[text(cell, CELL) for cell in row] for row in rows]
    if not rows:
        cells.append([text("none", CELL)] + [text("", CELL)] * (len(header) - 1))
    shown = Table(cells, colWidths=[WIDTH * w for w in widths], repeatRows=1)
    shown.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEADER),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return shown


def waterfall(evidence: Evidence) -> Drawing:
    """Draw how each input moved the score from the model's base value to the decision's."""
    rows = list(evidence.features[:WATERFALL_BARS])
    rest = evidence.features[WATERFALL_BARS:]
    steps = [(_bar_label(row), row.contribution) for row in rows]
    if rest:
        steps.append((f"{len(rest)} other inputs", sum(row.contribution for row in rest)))
    running, spans = evidence.base_value, []
    for _, step in steps:
        spans.append((running, running + step))
        running += step
    ends = [evidence.base_value, running, *(end for _, end in spans)]
    low, high = min(ends), max(ends)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    label_width, value_width, row_height = 0.36 * WIDTH, 0.12 * WIDTH, 13
    plot = WIDTH - label_width - value_width
    height = (len(steps) + 3) * row_height

    def x(value: float) -> float:
        return label_width + (value - low) / (high - low) * plot

    drawing = Drawing(WIDTH, height)
    top = height - row_height
    drawing.add(String(0, top, f"base value {evidence.base_value:+.4f}", fontSize=7.5))
    for index, ((label, step), (start, end)) in enumerate(zip(steps, spans, strict=True)):
        y = top - (index + 1) * row_height
        left, right = sorted((x(start), x(end)))
        colour = RAISES if step > 0 else LOWERS
        drawing.add(String(0, y + 2, label[:48], fontSize=7.5))
        drawing.add(Rect(left, y, max(right - left, 0.8), row_height - 3, fillColor=colour))
        drawing.add(String(WIDTH, y + 2, f"{step:+.4f}", fontSize=7.5, textAnchor="end"))
    bottom = top - (len(steps) + 1) * row_height
    for mark in (evidence.base_value, running):
        drawing.add(Line(x(mark), bottom + row_height, x(mark), top, strokeColor=colors.grey))
    final = f"raw score {evidence.raw_score:+.4f} (log-odds), score {evidence.score:.4f}"
    drawing.add(String(0, bottom + 2, final, fontSize=7.5))
    for colour, meaning, offset in ((RAISES, "raises", 0.55), (LOWERS, "lowers", 0.75)):
        drawing.add(Rect(offset * WIDTH, bottom + 2, 8, 7, fillColor=colour, strokeColor=None))
        drawing.add(String(offset * WIDTH + 11, bottom + 2, f"{meaning} the risk", fontSize=7.5))
    return drawing


def _bar_label(row: FeatureRow) -> str:
    value = "withheld" if row.withheld else number(row.value)
    return f"{row.name} = {value}"


def _decision(evidence: Evidence) -> Table:
    stock = "frozen" if evidence.freeze else "not frozen"
    rows = [
        ("order", evidence.order_id),
        ("decision id", evidence.decision_id),
        ("order created at", when(evidence.created_at)),
        ("decided at", when(evidence.decided_at)),
        ("score", f"{evidence.score:.6f}"),
        ("raw score (log-odds)", f"{evidence.raw_score:+.6f}"),
        ("model base value", f"{evidence.base_value:+.6f}"),
        ("tier", evidence.tier),
        ("action", evidence.action),
        ("stock", stock + (f": {evidence.freeze_reason}" if evidence.freeze_reason else "")),
        ("degraded", "yes: some inputs could not be read in time" if evidence.degraded else "no"),
        ("review case", evidence.case_status or "none"),
    ]
    return table(("field", "value"), rows, (0.25, 0.75))


def _features(evidence: Evidence) -> Table:
    rows = [
        (
            f.name,
            f.definition,
            "withheld" if f.withheld else number(f.value),
            f"{f.contribution:+.4f}",
            f.reason,
        )
        for f in evidence.features
    ]
    header = ("input", "definition", "value", "contribution", "in words")
    return table(header, rows, (0.18, 0.32, 0.1, 0.12, 0.28))


def _model(evidence: Evidence) -> list[Flowable]:
    model = evidence.model
    facts = [
        ("model", f"{model.name} version {model.version}"),
        ("registry", model.note),
        ("run", model.run_id or "unknown"),
        *((f"trained on {k}", v) for k, v in sorted(model.training_ranges.items())),
        *((k, f"{v:.4f}") for k, v in model.metrics.items()),
        ("rules", evidence.rules_text),
    ]
    cuts = [(name, f"{value:.6f}") for name, value in sorted(evidence.thresholds.items())]
    return [
        table(("fact", "value"), facts, (0.3, 0.7)),
        Spacer(1, 4),
        table(("threshold", "cut point"), cuts, (0.3, 0.7)),
    ]


def _entries(evidence: Evidence, bundle: Mapping[str, Any] | None) -> Table:
    header = ("seq", "kind", "actor", "at")
    if bundle is None:
        lines = [(e.position, e.kind, e.actor, when(e.at)) for e in evidence.entries]
        return table(header, lines, (0.1, 0.25, 0.35, 0.3))
    rows = [item["entry"] for item in bundle.get("entries", [])]
    lines = [(e["seq"], e["kind"], e["actor"], e["at"]) for e in rows]
    return table(header, lines, (0.1, 0.25, 0.35, 0.3))


def _no_bundle(evidence: Evidence, bundle_roles: Sequence[str]) -> list[Flowable]:
    """Say that no bundle goes with the document, and who exports one."""
    lines = ["No bundle was exported with this document: no checkpoint to match."]
    if evidence.role not in bundle_roles:
        exporters = " or ".join(bundle_roles) or "no role under the masking policy in force"
        lines.append(
            f"The signed evidence bundle is exported by {exporters}: it carries the "
            "decision's committed fields whole, and some of them are withheld from the "
            f"{evidence.role} role."
        )
    return [text(line) for line in lines]


def _checkpoint(
    evidence: Evidence, bundle: Mapping[str, Any] | None, bundle_roles: Sequence[str]
) -> list[Flowable]:
    if bundle is None:
        return _no_bundle(evidence, bundle_roles)
    point = bundle["checkpoint"]
    rows = [
        ("log size", point["size"]),
        ("Merkle root", point["root"]),
        ("signed at", point["signed_at"]),
        ("key id", point["key_id"]),
        ("checkpoint signature", point["signature"]),
        ("bundle signature", bundle.get("signature", "")),
    ]
    note = (
        "Each entry above is proved to be in the log of this size and root by the "
        "evidence bundle exported with this document; check it offline with "
        "`ordershield audit verify-bundle BUNDLE --public-key KEY`."
    )
    return [table(("checkpoint", "value"), rows, (0.25, 0.75)), Spacer(1, 4), text(note)]


def _footer(order_id: str) -> Any:
    def draw(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        line = f"OrderShield evidence - order {order_id} - page {document.page}"
        canvas.drawString(MARGIN, MARGIN / 2, line)
        canvas.restoreState()

    return draw


def evidence_pdf(
    evidence: Evidence,
    bundle: Mapping[str, Any] | None = None,
    bundle_roles: Sequence[str] = ("legal",),
) -> bytes:
    """Return the evidence of a decision as a PDF; with its bundle, its entries and checkpoint.

    `bundle_roles` are the roles that may receive a bundle (the shipped
    policy's by default): a PDF without one names them.
    """
    timeline = [
        (when(item.at), item.source, item.what, item.who, item.detail) for item in evidence.timeline
    ]
    order = [(a.label, a.shown, a.visibility) for a in evidence.order]
    story: list[Flowable] = [
        text(f"Evidence of the decision on order {evidence.order_id}", H1),
        text(f"As the {evidence.role} role may see it; prepared {when(datetime.now(UTC))}."),
        text("Summary", H2),
        text(evidence.summary),
        text("Decision", H2),
        _decision(evidence),
        text("The order", H2),
        table(("attribute", "shown", "visibility"), order, (0.28, 0.56, 0.16)),
        text("Inputs and their contributions", H2),
        _features(evidence),
        KeepTogether(
            [text("How the inputs moved the score (SHAP waterfall)", H2), waterfall(evidence)]
        ),
        text("Model, thresholds and rules", H2),
        *_model(evidence),
        text("What followed", H2),
        table(("at", "source", "what", "who", "detail"), timeline, (0.2, 0.1, 0.2, 0.2, 0.3)),
        text("Audit log entries about the order", H2),
        _entries(evidence, bundle),
        text("Checkpoint", H2),
        *_checkpoint(evidence, bundle, bundle_roles),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"Evidence of order {evidence.order_id}",
        author="OrderShield",
    )
    footer = _footer(evidence.order_id)
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
