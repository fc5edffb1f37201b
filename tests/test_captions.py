"""Digit captions: attribute measures, per-class thresholds, caption grammar and parser, alignment."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
import torch

from adanat_cli.data.captions import (
    ATTRIBUTES,
    CLASS_WORDS,
    WORDS,
    ParsedCaption,
    alignment,
    caption_dataset,
    describe,
    fit_thresholds,
    make_caption,
    measure_attributes,
    mismatched_caption,
    parse_caption,
    satisfied_statements,
    statement_targets,
)
from adanat_cli.data.sources import mnist5k


@pytest.fixture(scope="module")
def digits():
    images, labels = mnist5k()
    attributes = measure_attributes(images)
    thresholds = fit_thresholds(images, labels)
    return images, labels, attributes, thresholds


def _bar(width: float, height: float, shear: float = 0.0, side: int = 28, supersample: int = 8) -> torch.Tensor:
    """An anti-aliased vertical bar centred in a side x side image, its top shifted right by shear * height / 2."""
    n = side * supersample
    coords = (torch.arange(n) + 0.5) / supersample - side / 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    inside = ((x + shear * y).abs() <= width / 2) & (y.abs() <= height / 2)
    return inside.float().view(side, supersample, side, supersample).mean(dim=(1, 3))


# ---- measures ---------------------------------------------------------------------------------


def test_measures_on_synthetic_bars():
    bars = torch.stack([_bar(2, 16), _bar(4, 16), _bar(2, 16, shear=0.4), _bar(2, 22), _bar(2, 10)])
    rgb = bars[:, None].expand(-1, 3, -1, -1)
    a = measure_attributes(rgb)
    assert set(a) == set(ATTRIBUTES) and all(v.shape == (5,) and v.dtype == torch.float32 for v in a.values())
    thickness, slant, size = a["thickness"].tolist(), a["slant"].tolist(), a["size"].tolist()
    assert thickness[1] > 1.5 * thickness[0]  # a thick bar is thicker than a thin one
    assert 1.5 < thickness[0] < 2.5 and 3.0 < thickness[1] < 4.5  # and about as wide as drawn
    assert abs(slant[0]) < 0.02 and slant[2] > 0.3  # the sheared bar leans right, the upright one not
    assert size[3] > size[0] > size[4]  # taller is larger
    assert torch.allclose(measure_attributes(bars)["size"], a["size"])  # (B, H, W) works as well
    uint8 = (rgb * 255).round().to(torch.uint8)
    assert torch.allclose(measure_attributes(uint8)["thickness"], a["thickness"], atol=0.05)


def test_leaning_left_is_negative_slant_and_blank_images_measure_zero():
    a = measure_attributes(torch.stack([_bar(2, 16, shear=-0.4), torch.zeros(28, 28)]))
    assert a["slant"][0] < -0.3
    assert a["thickness"][1] == a["slant"][1] == a["size"][1] == 0.0


def test_measures_ignore_faint_background_noise():
    images, _ = mnist5k()
    clean = measure_attributes(images[:200])
    background = images[:200] == 0
    noisy = measure_attributes(images[:200] + 0.24 * torch.rand(200, 1, 28, 28) * background)
    for attribute in ATTRIBUTES:
        assert torch.allclose(clean[attribute], noisy[attribute])


def test_bad_image_shapes_are_value_errors():
    with pytest.raises(ValueError, match="must be"):
        measure_attributes(torch.zeros(28, 28, 3, 1, 1))
    with pytest.raises(ValueError, match="float"):
        measure_attributes(torch.zeros(2, 28, 28, dtype=torch.int64))


# ---- thresholds and words -----------------------------------------------------------------------


def test_per_class_medians_split_every_class_in_half(digits):
    _, labels, attributes, thresholds = digits
    assert json.loads(json.dumps(thresholds)) == thresholds
    assert set(thresholds) == set(ATTRIBUTES) and all(len(v) == 10 for v in thresholds.values())
    words = describe(labels, attributes, thresholds)
    assert len(words) == 5000 and set(words[0]) == set(ATTRIBUTES)
    for attribute in ATTRIBUTES:
        for c in range(10):
            upper = sum(w[attribute] == WORDS[attribute][1] for w, label in zip(words, labels.tolist()) if label == c)
            assert upper == 250, (attribute, c, upper)


def test_attribute_words_are_not_the_same_split(digits):
    _, labels, attributes, thresholds = digits
    words = describe(labels, attributes, thresholds)
    for a, b in itertools.combinations(ATTRIBUTES, 2):
        same = sum((w[a] == WORDS[a][1]) == (w[b] == WORDS[b][1]) for w in words) / len(words)
        assert 0.35 < same < 0.65, (a, b, same)


def test_fit_thresholds_needs_every_class():
    images = torch.stack([_bar(2, 16), _bar(3, 16)])
    with pytest.raises(ValueError, match="class 1"):
        fit_thresholds(images, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="shape"):
        fit_thresholds(images, torch.tensor([0, 1, 2]))


# ---- captions and parsing -------------------------------------------------------------------------


def test_caption_grammar():
    assert make_caption(7, {"thickness": "thick", "slant": "slanted", "size": "small"}) == "a thick, slanted, small seven"
    assert make_caption(3, {"thickness": "thin", "slant": "upright"}, commas=False) == "a thin upright three"
    assert make_caption(4, {"size": "small"}) == "a small four"
    assert make_caption(2) == "a two"
    assert make_caption(8) == "an eight" and make_caption(1, {"slant": "upright"}) == "an upright one"
    assert make_caption(1, {"thickness": "thin", "slant": "upright"}) == "a thin, upright one"
    with pytest.raises(ValueError, match="thick"):
        make_caption(1, {"thickness": "bold"})
    with pytest.raises(ValueError, match="class_index"):
        make_caption(10)
    with pytest.raises(ValueError, match="unknown attribute"):
        make_caption(1, {"colour": "red"})


def test_every_caption_round_trips_through_the_parser():
    options = [(None,) + WORDS[a] for a in ATTRIBUTES]
    for class_index in range(10):
        for combo in itertools.product(*options):
            words = dict(zip(ATTRIBUTES, combo))
            for commas in (True, False):
                caption = make_caption(class_index, words, commas=commas)
                assert parse_caption(caption) == ParsedCaption(class_index, words), caption
            digit_form = " ".join(["the"] + [w.upper() for w in combo if w] + [str(class_index)])
            assert parse_caption(digit_form) == ParsedCaption(class_index, words), digit_form


def test_parser_tolerates_noise_and_ignores_unknown_words():
    parsed = parse_caption("  An  THICK,,slanted   and very pretty 7!  ")
    assert parsed.class_index == 7 and parsed.words == {"thickness": "thick", "slant": "slanted", "size": None}
    assert parse_caption("a thin squiggle") == ParsedCaption(None, {"thickness": "thin", "slant": None, "size": None})
    assert parse_caption("") == ParsedCaption(None, dict.fromkeys(ATTRIBUTES))
    assert parse_caption("a large 12").class_index is None  # 12 is no digit class
    assert parse_caption("a small five").stated == {"size": "small"}
    assert [parse_caption(w).class_index for w in CLASS_WORDS] == list(range(10))


def test_caption_dataset_drops_words_deterministically(digits):
    _, labels, attributes, thresholds = digits
    captions = caption_dataset(labels, attributes, thresholds, seed=3, copies=2)
    assert len(captions) == 10000
    assert captions == caption_dataset(labels, attributes, thresholds, seed=3, copies=2)
    assert captions != caption_dataset(labels, attributes, thresholds, seed=4, copies=2)
    full = describe(labels, attributes, thresholds)
    stated = 0
    for i, caption in enumerate(captions):
        parsed = parse_caption(caption)
        digit = i % 5000  # copy-major
        assert parsed.class_index == int(labels[digit])
        assert all(full[digit][a] == w for a, w in parsed.stated.items())  # only true words, some dropped
        stated += len(parsed.stated)
    kept = stated / (3 * len(captions))
    assert abs(kept - 0.65) < 0.02, kept
    assert any("," in c for c in captions) and any(len(parse_caption(c).stated) >= 2 and "," not in c for c in captions)


# ---- alignment -----------------------------------------------------------------------------------


def test_alignment_with_true_captions(digits):
    images, labels, attributes, thresholds = digits
    words = describe(labels, attributes, thresholds)
    captions = [make_caption(int(c), w) for c, w in zip(labels, words)]
    predictions = labels.clone()
    predictions[::7] = (predictions[::7] + 1) % 10  # a classifier that errs on every 7th digit
    result = alignment(images, captions, predictions, thresholds)
    assert math.isclose(result["class_agreement"], (predictions == labels).sum().item() / 5000)
    assert result["attribute_agreement"] == 1.0 and result["attribute_count"] == 15000
    assert all(result[f"{a}_agreement"] == 1.0 and result[f"{a}_count"] == 5000 for a in ATTRIBUTES)
    assert result["attribute_chance"] == 0.5 and result["count"] == result["class_count"] == 5000
    assert math.isclose(result["caption_agreement"], result["class_agreement"])
    assert json.loads(json.dumps(result)) == result


def test_alignment_with_shuffled_captions_is_at_chance(digits):
    images, labels, attributes, thresholds = digits
    words = describe(labels, attributes, thresholds)
    captions = [make_caption(int(c), w) for c, w in zip(labels, words)]
    order = torch.randperm(5000, generator=torch.Generator().manual_seed(0)).tolist()
    result = alignment(images, [captions[i] for i in order], labels, thresholds)
    assert abs(result["attribute_agreement"] - 0.5) < 0.05, result
    assert all(abs(result[f"{a}_agreement"] - 0.5) < 0.05 for a in ATTRIBUTES), result
    assert result["class_agreement"] < 0.2


def test_alignment_counts_only_what_captions_state(digits):
    images, labels, _, thresholds = digits
    captions = ["a thick seven", "a small", "blank", ParsedCaption(labels[3].item(), {"slant": "upright"})]
    result = alignment(images[:4], captions, labels[:4], thresholds)
    assert result["count"] == 4 and result["class_count"] == 2
    assert result["thickness_count"] == 1 and result["size_count"] == 1 and result["slant_count"] == 1
    assert result["attribute_count"] == 3
    none = alignment(images[:1], ["nothing here"], labels[:1], thresholds)
    assert none["class_agreement"] is None and none["attribute_agreement"] is None
    assert none["caption_agreement"] == 1.0


def test_satisfied_statements_score_each_caption_as_alignment_judges_it(digits):
    images, labels, _, thresholds = digits
    generator = torch.Generator().manual_seed(3)
    picks = torch.randperm(5000, generator=generator)[:40]
    captions = [make_caption(int(torch.randint(0, 10, (), generator=generator)),
                             {a: random_word for a, random_word in zip(ATTRIBUTES, words) if random_word})
                for words in itertools.islice(itertools.cycle(itertools.product(*[(None, *WORDS[a]) for a in ATTRIBUTES])), 40)]
    targets = statement_targets(captions)
    assert targets.shape == (40, 7)
    assert torch.equal(statement_targets(["a thick, upright seven"])[0], torch.tensor([7.0, 1, 1, 1, 0, 0, 0]))
    one_hot = torch.nn.functional.one_hot(labels[picks], 10).float()  # a classifier sure of the true class
    score = satisfied_statements(images[picks], targets, one_hot, thresholds)
    for i, (index, caption) in enumerate(zip(picks.tolist(), captions)):
        judged = alignment(images[index : index + 1], [caption], labels[index : index + 1], thresholds)
        stated = judged["attribute_count"]
        hits = judged["class_agreement"] + (judged["attribute_agreement"] or 0) * stated
        assert math.isclose(score[i].item(), hits / (1 + stated), abs_tol=1e-6), (caption, judged)
    assert 0 < score.mean() < 1  # random captions: some statements hold, some do not
    true = [make_caption(int(labels[i]), w) for i, w in zip(picks.tolist(), describe(labels[picks], measure_attributes(images[picks]), thresholds))]
    assert torch.equal(satisfied_statements(images[picks], statement_targets(true), one_hot, thresholds), torch.ones(40))
    with pytest.raises(ValueError, match="name a class"):
        satisfied_statements(images[:1], statement_targets(["a thick"]), one_hot[:1], thresholds)


def test_alignment_rejects_mismatched_lengths(digits):
    images, labels, _, thresholds = digits
    with pytest.raises(ValueError, match="10 images but 9 captions"):
        alignment(images[:10], ["a one"] * 9, labels[:10], thresholds)
    with pytest.raises(ValueError, match="predictions"):
        alignment(images[:10], ["a one"] * 10, labels[:9], thresholds)
    with pytest.raises(ValueError, match="thresholds lack"):
        alignment(images[:10], ["a one"] * 10, labels[:10], {"thickness": [1.0] * 10})


def test_mismatched_caption_negates_one_statement_and_keeps_the_style():
    rng = random.Random(0)
    flips = {mismatched_caption("a thick, slanted, small seven", rng) for _ in range(60)}
    assert flips == {"a thin, slanted, small seven", "a thick, upright, small seven", "a thick, slanted, large seven"}
    assert {mismatched_caption("a thick slanted seven", rng) for _ in range(30)} == {
        "a thin slanted seven", "a thick upright seven"}  # no commas in, none out
    others = {mismatched_caption("an eight", rng) for _ in range(200)}
    assert others == {make_caption(c) for c in range(10) if c != 8}
    assert mismatched_caption("a thick digit", rng) is None
