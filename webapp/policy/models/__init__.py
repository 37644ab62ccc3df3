"""Policy models: intent versions."""

from webapp.policy.models.intents import IntentVersion

__all__ = ["IntentVersion"]
