"""The baseline endpoints: no database, one indexed row, a paginated DRF list and a DRF create."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination

from baseline.models import Item

# The row every /pk/ request reads (the table holds 10,000 rows).
PK = 1234


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "value": 42})


def pk_select(request: HttpRequest) -> JsonResponse:
    item = Item.objects.only("id", "name").get(pk=PK)
    return JsonResponse({"id": item.id, "name": item.name})


class ItemSerializer(serializers.ModelSerializer[Item]):
    class Meta:
        model = Item
        fields = [
            "id",
            "name",
            "category",
            "description",
            "quantity",
            "price",
            "score",
            "active",
            "created_at",
            "uid",
            "code",
        ]


class Page50(PageNumberPagination):
    page_size = 50


class ItemList(generics.ListCreateAPIView[Item]):
    """GET: 50 rows of the 10,000 with a COUNT(*) (row 3c); POST: validate + INSERT (row 4a)."""

    queryset = Item.objects.order_by("id")
    serializer_class = ItemSerializer
    pagination_class = Page50
