"""Static files of the live pages: the websocket client and plotly.js, both from the project."""

from django.contrib.staticfiles import finders
from django.test import Client


def test_plotly_is_served_from_the_plotly_package(client: Client) -> None:
    response = client.get("/static/vendor/plotly.min.js")

    assert response.status_code == 200
    assert b"plotly.js" in b"".join(response.streaming_content)[:500]


def test_collectstatic_finds_plotly_and_the_live_client() -> None:
    assert finders.find("vendor/plotly.min.js").endswith("package_data/plotly.min.js")
    assert finders.find("js/live.js") is not None
    assert finders.find("vendor/plotly.min.js.map") is None
