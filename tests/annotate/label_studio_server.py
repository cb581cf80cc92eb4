"""A Label Studio server of the live round-trip test: find the executable, start it, talk to its HTTP API.

Label Studio is not a dependency of al_bench (its pins clash with mlflow's): it lives in its own virtual
environment, found by :func:`find_label_studio` in this order:

1. ``$AL_BENCH_LABEL_STUDIO``: the path of a ``label-studio`` executable;
2. ``label-studio`` on ``PATH``;
3. ``.venv-label-studio/bin/label-studio`` at the repository root (git-ignored), made with
   :data:`INSTALL_HINT`.

:class:`LabelStudio` starts ``label-studio start`` on 127.0.0.1 with its own data folder and local-file
serving, waits until ``/health`` answers, and logs in the way an API user of label-studio 1.23 does (legacy
tokens are off by default there): a session login, a personal access token (a JWT refresh token, ``POST
/api/token/``), and access tokens from ``POST /api/token/refresh/`` sent as ``Authorization: Bearer``.
:meth:`LabelStudio.stop` ends its process group. Plain ``urllib``, no SDK.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "AL_BENCH_LABEL_STUDIO"
REPO_VENV = REPO / ".venv-label-studio"
INSTALL_HINT = (
    f'python3.11 -m venv {REPO_VENV.name} && {REPO_VENV.name}/bin/pip install "label-studio>=1.23,<1.24" '
    f"(at the repository root), or set {ENV_VAR}=/path/to/bin/label-studio"
)
USER, PASSWORD = "al-bench@example.com", "al-bench-test-password"
START_TIMEOUT_S = 420.0  # the first start migrates a new database: ~90 s on the 2-core VM


def find_label_studio() -> tuple[Path | None, str]:
    """``(executable, where it was found)``, or ``(None, what was looked at)``.

    A set ``$AL_BENCH_LABEL_STUDIO`` that is not an executable file raises ``FileNotFoundError``: it was
    asked for, so it is an error, not a skip.
    """
    given = os.environ.get(ENV_VAR)
    if given:
        path = Path(given)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"{ENV_VAR}={given} is not an executable file")
        return path, f"${ENV_VAR}"
    on_path = shutil.which("label-studio")
    if on_path:
        return Path(on_path), "PATH"
    venv = REPO_VENV / "bin" / "label-studio"
    if venv.is_file():
        return venv, str(REPO_VENV)
    return None, f"${ENV_VAR} unset, no label-studio on PATH, no {venv}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabelStudioError(RuntimeError):
    """The server did not start or an API call failed; the message holds the answer or the log's tail."""


class LabelStudio:
    """One ``label-studio start`` process on 127.0.0.1 with the data folder ``data_dir``.

    Images under ``document_root`` are served at ``/data/local-files/?d=<path relative to it>`` once a
    project has a local storage whose path holds them (:meth:`add_local_storage`).
    """

    def __init__(self, executable: Path, data_dir: Path, document_root: Path) -> None:
        self.executable, self.data_dir, self.document_root = executable, data_dir, document_root
        self.log_path = data_dir.parent / "label_studio.log"
        self.process: subprocess.Popen | None = None
        self.base = ""
        self._refresh = ""
        self._access = ""
        self._access_at = 0.0

    # -- the process -------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir),
            LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
            LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(self.document_root),
            LABEL_STUDIO_LATEST_VERSION_CHECK="false",  # no call to the package index
            LABEL_STUDIO_COLLECT_ANALYTICS="false",
        )
        return env

    def start(self) -> None:
        """Start the server and wait until ``/health`` answers; raises :class:`LabelStudioError` naming the log."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cmd = [
            str(self.executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
            "--username", USER, "--password", PASSWORD, "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._env(),
                start_new_session=True,  # its own process group: stop() ends the dev server's children too
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabelStudioError(
                    f"label-studio exited with {self.process.returncode}: {self.log_tail()}"
                )
            # label-studio moves to the next port when ours was taken meanwhile: read the one it says
            said = re.search(rb"Starting development server at http://127\.0\.0\.1:(\d+)/", self._log())
            if said:
                self.base = f"http://127.0.0.1:{int(said.group(1))}"
                try:
                    with urllib.request.urlopen(self.base + "/health", timeout=5) as answer:
                        if answer.status == 200:
                            return
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(1.0)
        raise LabelStudioError(
            f"label-studio did not answer within {START_TIMEOUT_S:.0f} s: {self.log_tail()}"
        )

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=20)
        try:  # the autoreloader's child may outlive the parent for a moment
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _log(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def log_tail(self, n: int = 3000) -> str:
        return f"{self.log_path}: ...{self._log()[-n:].decode(errors='replace')}"

    # -- authentication ----------------------------------------------------------------------------

    def login(self) -> None:
        """Session login, then a personal access token (JWT refresh token) made through the API."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.base + "/user/login/", timeout=60).read()

        def csrf() -> str:
            return next(c.value for c in jar if c.name == "csrftoken")

        form = urllib.parse.urlencode({"email": USER, "password": PASSWORD, "csrfmiddlewaretoken": csrf()})
        headers = {"Referer": self.base + "/user/login/", "X-CSRFToken": csrf()}
        opener.open(urllib.request.Request(self.base + "/user/login/", form.encode(), headers), timeout=60)
        if not any(c.name == "sessionid" for c in jar):
            raise LabelStudioError(f"login as {USER} failed (no session cookie): {self.log_tail()}")
        request = urllib.request.Request(
            self.base + "/api/token/", b"{}", method="POST",
            headers={"Content-Type": "application/json", "X-CSRFToken": csrf(), "Referer": self.base + "/"},
        )  # fmt: skip
        with opener.open(request, timeout=60) as answer:
            self._refresh = json.loads(answer.read())["token"]
        self._renew_access()

    def _renew_access(self) -> None:
        body = json.dumps({"refresh": self._refresh}).encode()
        request = urllib.request.Request(
            self.base + "/api/token/refresh/", body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            self._access = json.loads(answer.read())["access"]
        self._access_at = time.monotonic()

    # -- the API -----------------------------------------------------------------------------------

    def request(self, method: str, path: str, body=None, timeout: float = 300.0) -> tuple[str, bytes]:
        """``(content type, body bytes)`` of an API call with a Bearer access token (renewed after 4 min)."""
        if time.monotonic() - self._access_at > 240:  # access tokens live 5 min
            self._renew_access()
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self._access}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.headers.get("Content-Type", ""), answer.read()
        except urllib.error.HTTPError as err:
            raise LabelStudioError(f"{method} {path}: HTTP {err.code}: {err.read()[:2000]!r}") from err

    def version(self) -> str:
        """The server's label-studio version (``/api/version``)."""
        return str(self.api("GET", "/api/version").get("release", "?"))

    def api(self, method: str, path: str, body=None):
        """The parsed JSON answer of an API call."""
        return json.loads(self.request(method, path, body)[1] or b"null")

    def create_project(self, title: str, label_config: str) -> int:
        return int(self.api("POST", "/api/projects/", {"title": title, "label_config": label_config})["id"])

    def add_local_storage(self, project: int, folder: Path) -> None:
        """A local-files import storage on ``folder`` (under the document root): lets the project's tasks
        read ``/data/local-files/?d=...`` URLs of files there. Nothing is synced: the tasks are imported."""
        self.api(
            "POST",
            "/api/storages/localfiles/",
            {"project": project, "path": str(folder), "use_blob_urls": False, "title": folder.name},
        )

    def import_tasks(self, project: int, tasks: list[dict]) -> dict:
        return self.api("POST", f"/api/projects/{project}/import", tasks)

    def tasks(self, project: int) -> list[dict]:
        """The project's tasks with their annotations (the list endpoint leaves annotations out)."""
        listed = self.api("GET", f"/api/tasks/?project={project}&page_size=1000")["tasks"]
        return [self.api("GET", f"/api/tasks/{task['id']}/") for task in listed]

    def predictions_to_annotations(self, project: int) -> dict:
        """The Data Manager action "Create Annotations From Predictions" on every task."""
        return self.api(
            "POST",
            f"/api/dm/actions?id=predictions_to_annotations&project={project}",
            {"selectedItems": {"all": True, "excluded": []}},
        )

    def export(self, project: int, export_type: str) -> tuple[str, bytes]:
        """``GET /api/projects/<id>/export?exportType=...`` (JSON: a task list; COCO: a zip)."""
        return self.request(
            "GET", f"/api/projects/{project}/export?exportType={export_type}&download_all_tasks=true"
        )
