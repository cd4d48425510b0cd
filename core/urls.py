from django.contrib.auth import views as auth_views
from django.urls import path

from core import views
from core.forms import SignInForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=SignInForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<str:key_id>/revoke/", views.revoke_token, name="revoke-token"),
]
