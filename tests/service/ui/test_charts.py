"""The SVG charts: the waterfall adds up, the ring graph is capped and stable, data is escaped."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from service.ui.charts import MAX_NODES, RingEntity, RingOrder, ring_graph, waterfall

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onload='alert(1)"]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("viewBox"), "a complete svg with a viewBox"
    return root


def assert_inert(root: ET.Element) -> None:
    for element in root.iter():
        assert element.tag.removeprefix(NS) not in ("script", "foreignObject", "style", "img")
        assert not [name for name in element.attrib if name.lower().startswith("on")]
        assert "style" not in element.attrib, "colours come from CSS classes"


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{NS}rect")


CONTRIBUTIONS = [(f"feature {i}", (-1) ** i * (0.1 + 0.07 * i)) for i in range(14)]


def test_the_waterfall_steps_from_the_base_to_the_raw_score() -> None:
    base = -2.5
    root = parse(waterfall(base, CONTRIBUTIONS, score=0.31, top=10))
    found = bars(root)
    assert len(found) == 10 + 1, "the top 10, and the rest in one bar"
    ends = [(float(b.attrib["data-from"]), float(b.attrib["data-to"])) for b in found]
    assert ends[0][0] == pytest.approx(base)
    assert all(a[1] == pytest.approx(b[0]) for a, b in pairwise(ends))
    total = base + math.fsum(c for _, c in CONTRIBUTIONS)
    assert ends[-1][1] == pytest.approx(total, abs=1e-5)
    # The drawing agrees: each bar starts where the one before ended, and the last ends on the
    # final marker, at a position linear in log-odds.
    edges = []
    for bar in found:
        left, width = float(bar.attrib["x"]), float(bar.attrib["width"])
        fraud = "push-fraud" in bar.attrib["class"].split()
        edges.append((left, left + width) if fraud else (left + width, left))
    assert all(a[1] == pytest.approx(b[0], abs=0.02) for a, b in pairwise(edges))
    lines = {line.attrib["class"]: line for line in root.iter(f"{NS}line")}
    base_x = float(lines["guide base"].attrib["x1"])
    final_x = float(lines["guide final"].attrib["x1"])
    assert edges[0][0] == pytest.approx(base_x, abs=0.02)
    assert edges[-1][1] == pytest.approx(final_x, abs=0.02)
    per_unit = (final_x - base_x) / (total - base)
    for bar, (start, end) in zip(found, ends, strict=True):
        assert float(bar.attrib["width"]) == pytest.approx(abs(end - start) * per_unit, abs=0.02)
    assert_inert(root)


def test_the_waterfall_orders_bars_by_size_and_colours_them_by_direction() -> None:
    root = parse(waterfall(0.0, [("small", 0.05), ("away", -0.9), ("towards", 0.6)], 0.4, top=2))
    found = bars(root)
    labels = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "label"]
    assert labels == ["away", "towards", "1 other feature"]
    classes = [set(b.attrib["class"].split()) for b in found]
    assert "push-legit" in classes[0] and "push-fraud" in classes[1] and "push-fraud" in classes[2]
    texts = "".join(root.itertext())
    assert "-0.900" in texts and "+0.600" in texts and "probability 0.400" in texts


def test_the_waterfall_with_few_features_has_no_other_bar() -> None:
    root = parse(waterfall(1.0, [("a", 0.5), ("b", -0.25)], 0.77))
    assert len(bars(root)) == 2
    assert "other feature" not in "".join(root.itertext())


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_the_waterfall_refuses_values_it_cannot_draw(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        waterfall(0.0, [("a", bad)], 0.5)


@pytest.mark.parametrize("label", HOSTILE)
def test_waterfall_labels_are_escaped(label: str) -> None:
    svg = str(waterfall(0.0, [(label, 0.7), ("b", -0.2)], 0.6))
    assert "<script" not in svg and "<img" not in svg
    root = parse(svg)
    assert_inert(root)
    assert label in "".join(root.itertext()), "shown as text, exactly"


def ring(n_orders: int, n_entities: int, center: str = "case") -> str:
    kinds = ["device", "ip_cluster", "payment", "address"]
    entities = [RingEntity(f"e{i}", kinds[i % 4], f"entity {i}") for i in range(n_entities)]
    orders = [RingOrder(center, center, "high", "open")]
    orders += [RingOrder(f"o{i}", f"order {i}", "low", "approved") for i in range(n_orders)]
    links = [(center, e.id) for e in entities[:4]]
    links += [(f"o{i}", f"e{(i * 7) % max(n_entities, 1)}") for i in range(n_orders)]
    links += [(f"o{i}", f"e{(i * 3) % max(n_entities, 1)}") for i in range(0, n_orders, 2)]
    return str(ring_graph(center, orders, entities, links))


def nodes(root: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if kind in g.attrib.get("class", "").split()]


def test_the_ring_draws_every_node_and_edge_of_a_small_ring() -> None:
    root = parse(ring(6, 5))
    orders, entities = nodes(root, "order"), nodes(root, "entity")
    assert len(orders) == 7 and len(entities) == 5
    assert [g.attrib["data-id"] for g in orders if "center" in g.attrib["class"]] == ["case"]
    shapes = {g.attrib["class"].split()[-1]: g[1].tag.removeprefix(NS) for g in entities}
    assert len(set(shapes.items())) == 4 and {"rect", "polygon"} <= set(shapes.values())
    assert len(list(root.iter(f"{NS}line"))) == 4 + 6 + 2, "o0's second link repeats its first"
    assert all(g.find(f"{NS}title") is not None for g in orders + entities), "hover text"
    assert "not shown" not in "".join(root.itertext())
    assert_inert(root)


def test_the_ring_is_capped_and_says_what_it_left_out() -> None:
    root = parse(ring(200, 30))
    orders, entities = nodes(root, "order"), nodes(root, "entity")
    assert len(orders) + len(entities) == MAX_NODES
    assert len(entities) == 20
    assert {"e0", "e1", "e2", "e3"} <= {g.attrib["data-id"] for g in entities}, "the center's own"
    note = [t.text for t in root.iter(f"{NS}text") if t.text and t.text.startswith("not shown")]
    assert note == [f"not shown: {200 - (MAX_NODES - 21)} orders, 10 entities"]


def test_the_ring_layout_is_deterministic() -> None:
    assert ring(40, 12) == ring(40, 12)
    kinds = ["device", "payment"]
    entities = [RingEntity(f"e{i}", kinds[i % 2], f"entity {i}") for i in range(4)]
    orders = [RingOrder(f"o{i}", f"o{i}", "medium", "open") for i in range(5)]
    links = [(f"o{i}", f"e{i % 4}") for i in range(5)] + [("c", "e0"), ("c", "e1")]
    first = ring_graph("c", orders, entities, links)
    assert first == ring_graph("c", orders[::-1], entities[::-1], links[::-1]), "input order"


def test_outer_orders_sit_next_to_the_entity_they_share() -> None:
    entities = [RingEntity(f"e{i}", "device", f"d{i}") for i in range(4)]
    orders = [RingOrder("near-e2", "x", "low", "open")]
    root = parse(ring_graph("c", orders, entities, [("c", "e0"), ("near-e2", "e2")]))
    spots = {}
    for g in root.iter(f"{NS}g"):
        shape = g.find(f".//{NS}circle")
        shape = g.find(f".//{NS}rect") if shape is None else shape
        assert shape is not None
        x = float(shape.get("cx") or float(shape.attrib["x"]) + 9)
        y = float(shape.get("cy") or float(shape.attrib["y"]) + 9)
        spots[g.attrib["data-id"]] = math.atan2(y - 320, x - 320)
    assert spots["near-e2"] == pytest.approx(spots["e2"], abs=0.01)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_ring_ids_and_labels_are_escaped(hostile: str) -> None:
    entities = [RingEntity(hostile, "ip_cluster", hostile)]
    orders = [RingOrder(hostile, hostile, hostile, hostile), RingOrder("c", hostile, "low", "x")]
    svg = str(ring_graph("c", orders, entities, [("c", hostile), (hostile, hostile)]))
    assert "<script" not in svg and "<img" not in svg
    root = parse(svg)
    assert_inert(root)
    assert hostile in {g.attrib["data-id"] for g in root.iter(f"{NS}g")}
    hrefs = [a.attrib["href"] for a in root.iter(f"{NS}a")]
    assert all(re.fullmatch(r"/orders/[A-Za-z0-9%._~-]+", href) for href in hrefs), hrefs
    tiers = {c for g in nodes(root, "order") for c in g.attrib["class"].split()}
    assert "tier-unknown" in tiers and not any(hostile in c for c in tiers), "classes from a table"


def test_an_unknown_entity_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        RingEntity("e", "phone", "x")
