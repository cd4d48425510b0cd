from django.db import models


class Item(models.Model):
    """A row with ten ordinary fields (the baseline's list and create endpoints)."""

    name = models.CharField(max_length=100)
    category = models.CharField(max_length=100)
    description = models.TextField()
    quantity = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    score = models.FloatField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    uid = models.UUIDField()
    code = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name
