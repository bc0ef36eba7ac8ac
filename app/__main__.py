"""``python -m app``: the dashboard on http://127.0.0.1:8050 (settings from CNNVIZ_* variables)."""

from . import create_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env()
    app = create_app(settings)
    print(f"cnnviz dashboard on http://{settings.host}:{settings.port}  (models: {settings.model_dir}, "
          f"cache: {settings.cache_dir})", flush=True)
    app.run(host=settings.host, port=settings.port, debug=settings.debug, use_reloader=False)


if __name__ == "__main__":
    main()
