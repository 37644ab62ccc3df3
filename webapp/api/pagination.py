"""Pagination shared by every API list."""

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """Page-number pagination whose page size a client may lower or raise to a bound."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
