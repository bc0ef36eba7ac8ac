"""A small Dash client over HTTP, for the tests and benchmarks: what the browser's renderer sends,
for many users at once (not used by the app itself).

Starts from a real page load (the signed ``end_id`` in the page's config), calls callbacks by
their output, and follows background callbacks (``cacheKey``/``job`` polling) to their result.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class DashClient:
    def __init__(self, url: str, path: str = "/"):
        self.url = url
        with urllib.request.urlopen(url + path, timeout=30) as r:
            page = r.read().decode()
        config = json.loads(re.search(r'<script id="_dash-config" type="application/json"[^>]*>(.*?)</script>', page,
                                      re.S).group(1))
        self.end_id = config.get("end_id")
        with urllib.request.urlopen(url + "/_dash-dependencies", timeout=30) as r:
            self.deps = json.loads(r.read())

    def _dep(self, output: str) -> dict:
        """The callback whose outputs include ``output`` ("id.prop"), and that is not an allow_duplicate copy."""
        for d in self.deps:
            outs = d["output"].strip(".").split("...")
            if output in outs:
                return d
        raise KeyError(output)

    def post(self, body: Any, query: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:
        q = {"endId": self.end_id, **(query or {})} if self.end_id else dict(query or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_dash-update-component?{urllib.parse.urlencode(q)}", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def body(self, output: str, values: dict[str, Any], changed: str) -> dict:
        """The request for the callback of ``output``; ``values`` by "id.prop" for its inputs and states."""
        d = self._dep(output)
        outs = d["output"].strip(".").split("...")

        def spec(item):
            key = f"{item['id']}.{item['property']}"
            return {"id": item["id"], "property": item["property"], "value": values.get(key)}

        outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outs]
        multi = d["output"].startswith("..")
        return {"output": d["output"], "outputs": outputs if multi else outputs[0],
                "inputs": [spec(i) for i in d["inputs"]], "state": [spec(s) for s in d["state"]],
                "changedPropIds": [changed]}

    def call(self, output: str, values: dict[str, Any], changed: str) -> dict:
        """A plain callback: {"id": {"prop": value}} of its response."""
        status, res = self.post(self.body(output, values, changed))
        if status == 204:
            return {}
        assert status == 200, (status, res)
        return res["response"]

    def start(self, output: str, values: dict[str, Any], changed: str) -> tuple[dict, dict[str, str]]:
        """Starts a background callback: (its request body, the query that polls it)."""
        body = self.body(output, values, changed)
        status, handle = self.post(body)
        assert status == 200 and "cacheKey" in handle, (status, handle)
        return body, {"cacheKey": handle["cacheKey"], "job": handle["job"]}

    def background(self, output: str, values: dict[str, Any], changed: str, timeout: float = 300,
                   on_poll: Any = None) -> dict:
        """A background callback, polled as the renderer does until its result arrives; ``on_poll`` sees each
        poll's answer (its ``progress``, for one)."""
        body, query = self.start(output, values, changed)
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.3)
            status, res = self.post(body, query)
            if status == 204:
                raise AssertionError("the background job was lost (HTTP 204: no result, no job)")
            if on_poll is not None:
                on_poll(res)
            if isinstance(res, dict) and "response" in res:
                return res["response"]
        raise AssertionError(f"no result within {timeout} s")
