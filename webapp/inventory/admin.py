"""Admin of hosts (issuing agent tokens), tokens (revoking them), workloads and segments."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.inventory.models import AgentToken, Host, Segment, Workload
from webapp.inventory.tokens import issue_agent_token, revoke_agent_token


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    """Hosts; the action issues agent tokens and shows each one once."""

    list_display = ["name", "last_seen_at", "last_snapshot"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "last_seen_at", "last_snapshot", "analysis_due_at"]
    actions = ["issue_agent_token"]

    @admin.action(description="Issue an agent token (shown once)")
    def issue_agent_token(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        for host in queryset:
            _, plaintext = issue_agent_token(host, request.user, via="admin")
            self.message_user(request, f"Agent token for {host.name}: {plaintext}",
                              messages.WARNING)


@admin.register(AgentToken)
class AgentTokenAdmin(admin.ModelAdmin):
    """Tokens, by hash only; the action revokes them."""

    list_display = ["host", "token_hash", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["host", "token_hash", "created_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from the host action or create_agent_token

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AgentToken]) -> None:
        revoked = sum(revoke_agent_token(token, request.user, via="admin")
                      for token in queryset.filter(revoked_at__isnull=True).select_related("host"))
        self.message_user(request, f"Revoked {revoked} token(s).")


@admin.register(Workload)
class WorkloadAdmin(admin.ModelAdmin):
    """Workloads, read mostly."""

    list_display = ["name", "host", "attachment", "started_at", "stopped_at"]
    list_filter = ["attachment"]
    search_fields = ["name"]
    list_select_related = ["host"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    """Segments and their selectors."""

    list_display = ["name", "selector"]
    search_fields = ["name"]
