"""``python -m app``: the dashboard on http://127.0.0.1:8050 (settings from CNNVIZ_* variables).

SIGTERM and SIGINT stop the engine processes and remove their temp folders before the app
exits; if this process is killed outright, the engines notice (their stdin closes) and exit.
"""

import signal
import sys

from .settings import Settings, SetupError


def main() -> None:
    try:
        settings = Settings.from_env()
        from .shell import create_app

        app = create_app(settings)
    except SetupError as e:
        print(f"cnnviz: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    from .services import services

    def stop(signum, _frame) -> None:
        services().engine.stop()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cnnviz dashboard on http://{settings.host}:{settings.port}  (models: {settings.model_dir}, "
          f"cache: {settings.cache_dir})", flush=True)
    try:
        app.run(host=settings.host, port=settings.port, debug=settings.debug, use_reloader=False)
    finally:
        services().engine.stop()


if __name__ == "__main__":
    main()
