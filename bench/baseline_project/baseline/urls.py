from django.urls import path

from baseline import views

urlpatterns = [
    path("hello/", views.hello),
    path("pk/", views.pk_select),
    path("api/items/", views.ItemList.as_view()),
]
