"""WSGI entry for production servers: ``gunicorn --workers 1 --threads 8 app.wsgi:server``.

One gunicorn worker (with threads) shares one engine worker process; more processes would
each start their own engine and load TensorFlow again.
"""

from . import create_app

app = create_app()
server = app.server
