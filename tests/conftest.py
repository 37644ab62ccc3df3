"""Fixtures shared by every test: personas and clients."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def alice(django_user_model: type[AbstractBaseUser]) -> AbstractBaseUser:
    """Alice, a viewer: logged in, no special rights."""
    return django_user_model.objects.create_user(username="alice", password="alice-password")


@pytest.fixture
def client_logged_in(client: Client, alice: AbstractBaseUser) -> Client:
    """A browser session logged in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real captured inputs: $SEGSCOPE_CORPUS, else ../shared/corpus beside the repo."""
    path = Path(os.environ.get("SEGSCOPE_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))
    if not path.is_dir():
        pytest.fail(f"corpus not found at {path} (set SEGSCOPE_CORPUS)")
    return path
