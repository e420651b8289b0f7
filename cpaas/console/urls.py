from django.urls import path
from django.views.generic import RedirectView

app_name = "console"
urlpatterns = [
    path("", RedirectView.as_view(url="/docs/"), name="home"),
    path("login", RedirectView.as_view(url="/docs/"), name="login"),
]
