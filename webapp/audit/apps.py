from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Roles, the audit log of who did what, and the auditors' verifiable export."""

    name = "webapp.audit"
    label = "audit"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from webapp.audit import receivers

        user_logged_in.connect(receivers.logged_in, dispatch_uid="audit-logged-in")
        user_login_failed.connect(receivers.login_failed, dispatch_uid="audit-login-failed")
