from django.contrib.auth import views as auth_views
from django.urls import path

from core import password_reset, views
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
    path(
        "reset/<uidb64>/<token>/",
        password_reset.ResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", password_reset.ResetCompleteView.as_view(), name="password_reset_complete"),
    path("account/", views.account, name="account"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<str:key_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("account/titles/", views.titles, name="titles"),
    path(
        "account/titles/<int:pk>/<str:verdict>/",
        views.decide_title_grant,
        name="decide-title-grant",
    ),
]
