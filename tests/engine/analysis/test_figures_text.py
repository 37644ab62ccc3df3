"""Figures show names as written: plotly reads tags and entities in the texts it draws."""

from webapp.engine.figures import plotly_text, segment_graph_figure

NAME = "<b>web</b> & <a href='javascript:alert(1)'>x</a>"


def test_plotly_text_turns_markup_into_entities():
    assert plotly_text(NAME) == ("&lt;b&gt;web&lt;/b&gt; &amp; "
                                 "&lt;a href='javascript:alert(1)'&gt;x&lt;/a&gt;")


def test_the_segment_graph_escapes_labels_and_hover_texts_but_not_its_click_data():
    edge = {"src": NAME, "dst": NAME, "class": "excess", "allowed": ["tcp/80"], "intended": [],
            "missing_ports": [], "excess_ports": ["tcp/80"], "status": "full", "pairs": 1,
            "pairs_allowed": {"tcp/80": 1}}

    figure = segment_graph_figure({NAME: {"workloads": 1}}, [edge], {NAME: (0.0, 0.0)})

    texts = [t for trace in figure["data"] for key in ("text", "hovertext")
             for t in trace.get(key, [])]
    assert texts and all("<" not in t for t in texts)
    assert figure["data"][-1]["customdata"] == [NAME]
