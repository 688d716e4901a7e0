from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page_size=`` up to 1000, as the API contract says."""

    page_size_query_param = "page_size"
    max_page_size = 1000
