"""The WSGI app for gunicorn.

``python -m gunicorn -c python:service.gunicorn_conf service.wsgi:app``
"""

from service.app import create_app

app = create_app()
