import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpaas.settings")
django_wsgi = get_wsgi_application()

from cpaas.core.bodylimit import wsgi_body_limit  # noqa: E402  (needs the apps set up above)

# Bodies over MAX_REQUEST_BYTES are refused on the way in, chunked ones too.
application = wsgi_body_limit(django_wsgi)
