"""The inference-models diagram of chapter 6: one state box per layer on each side, the two
parts named with their Keras counterparts, text inside its boxes, bad arguments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from diagram_checks import assert_text_fits, figure_fixture  # noqa: E402
from s2s.diagrams.canvas import COLORS  # noqa: E402
from s2s.diagrams.inference import inference_flow  # noqa: E402

figure = figure_fixture(inference_flow)


def words(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def boxes(fig, colour: str) -> list[FancyBboxPatch]:
    return [p for p in fig.axes[0].patches
            if isinstance(p, FancyBboxPatch) and same_color(p.get_facecolor(), COLORS[colour])]


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_each_layer_has_its_states_on_both_sides(figure, layers):
    fig = figure(layers, source=("G", "o"))
    drawn = words(fig)
    for n in range(1, layers + 1):
        assert drawn.count(f"(h{n}, c{n})") == 2  # the encoder's final, the step's input
        assert drawn.count(f"(h{n}', c{n}')") == 1  # the step's output
        assert f"LSTM layer {n}" in drawn
    assert f"(h{layers + 1}, c{layers + 1})" not in drawn
    assert drawn.count("LSTM") == layers * 3  # 2 characters + <eos>, per layer
    assert len(boxes(fig, "decoder")) == layers
    assert len(boxes(fig, "encoder")) == layers * 3
    assert f"c = h{layers} of the encoder, read at every step" in drawn


def test_the_parts_are_named_with_their_keras_counterparts(figure):
    drawn = words(figure())
    for text in ("encoder part: model.encode", "(Keras: encoder_model)",
                 "decoder step: model.decoder.step", "(Keras: decoder_model)", "<eos>",
                 "y(t-1)", "y(t)"):
        assert text in drawn, text


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_text_stays_inside_boxes_and_never_overlaps(figure, layers):
    assert_text_fits(figure(layers))


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"num_layers": 0}, "num_layers"), ({"num_layers": 4}, "num_layers"),
    ({"num_layers": 1.0}, "num_layers"), ({"source": ()}, "source"),
    ({"source": "Hi"}, "source"), ({"source": tuple("abcdef")}, "source"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        inference_flow(**kwargs)
