"""WSGI entry for production servers: ``gunicorn --workers 1 --threads 8 app.wsgi:server``.

One gunicorn worker (with threads) shares one set of engine processes; more processes would
each start their own engines and load TensorFlow again. When the worker exits, its engines
exit too (their stdin closes), and ``atexit`` removes their temp folders.
"""

import atexit

from .services import services
from .shell import create_app

app = create_app()
server = app.server
atexit.register(services().engine.stop)
