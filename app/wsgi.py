"""WSGI entry for production servers: ``gunicorn --workers 1 --threads 8 app.wsgi:server``.

One gunicorn worker (with threads) shares one set of engine processes; more processes would
each start their own engines and load TensorFlow again. When the worker exits, its engines
exit too (their stdin closes), and ``atexit`` removes their temp folders.

The exposure guard checks the address gunicorn really listens on (``--bind``, a config file or
GUNICORN_CMD_ARGS: whatever gunicorn read), not CNNVIZ_HOST: a non-loopback bind without auth is
refused like ``CNNVIZ_HOST`` would be, and the worker does not boot.
"""

import atexit
import faulthandler

from .services import services
from .settings import Settings, check_listening
from .shell import create_app

faulthandler.enable()  # a fatal signal (SIGBUS from a broken cache file, say) leaves a traceback in the log
check_listening(Settings.from_env())
app = create_app()
server = app.server
atexit.register(services().engine.stop)
