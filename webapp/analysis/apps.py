from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """Explanations, the effective graph, drift and convergence, stored per host partition."""

    name = "webapp.analysis"
    label = "analysis"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from webapp.analysis import receivers
        from webapp.inventory.services import membership_changed
        from webapp.rules.services import snapshot_stored

        # A new intent version changes every host's intended state, however it was stored
        # (upload API, bundle ingest).
        post_save.connect(receivers.intent_published, sender="policy.IntentVersion",
                          dispatch_uid="analysis-intent-published")
        membership_changed.connect(receivers.membership_changed,
                                   dispatch_uid="analysis-membership-changed")
        snapshot_stored.connect(receivers.snapshot_stored,
                                dispatch_uid="analysis-snapshot-stored")
