"""`community dashboards push` over Grafana's HTTP API. No Grafana server can run here, so a local stub stands in
for it (the one fake in this suite): it checks the token and records what grafana-client sends."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from community.cli import main
from dashboards.build import all_dashboards
from devtools.localservices import free_port


class GrafanaStub(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict]] = []
    folders: list[dict] = []

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != "Bearer glsa_test":
            self._reply(401, {"message": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        if self._authorised() and self.path.startswith("/api/folders"):
            self._reply(200, self.folders)

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        if self.path == "/api/folders":
            uid = f"f-{len(self.folders) + 1}"
            self.folders.append({"uid": uid, "title": body["title"]})
            self._reply(200, {"uid": uid, "title": body["title"]})
        else:
            self._reply(200, {"status": "success", "uid": body["dashboard"]["uid"]})

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_push_creates_the_folder_once_and_overwrites_every_dashboard(capsys):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), GrafanaStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        assert main(["dashboards", "push", "--url", url, "--token", "glsa_test"]) == 0
        assert main(["dashboards", "push", "--url", url, "--token", "glsa_test"]) == 0  # folder exists now
    finally:
        server.shutdown()
    folders = [r for r in GrafanaStub.requests if r[1] == "/api/folders"]
    pushes = [r[2] for r in GrafanaStub.requests if r[1] == "/api/dashboards/db"]
    assert [f[2] for f in folders] == [{"title": "Smart community"}, {"title": "智慧社区"}]  # created once each
    expected = list(all_dashboards("en").values()) + list(all_dashboards("zh_CN").values())
    assert len(pushes) == 2 * len(expected)
    assert {p["dashboard"]["uid"] for p in pushes} == {b["uid"] for b in expected}
    assert all(p["overwrite"] is True and p["folderUid"].startswith("f-") for p in pushes)
    assert "pushed community-overview" in capsys.readouterr().out


def test_push_without_a_token_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert main(["dashboards", "push", "--url", "http://127.0.0.1:9"]) == 2
    assert "needs --token or GRAFANA_TOKEN" in capsys.readouterr().err
