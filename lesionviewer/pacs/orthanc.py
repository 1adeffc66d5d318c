"""Run a private Orthanc PACS on loopback: for the tests, the benchmark and trying the client out.

:class:`OrthancProcess` writes a configuration into a folder of its own (storage, index, log),
picks free loopback ports, starts ``Orthanc`` with the DICOMweb plugin and HTTP basic
authentication, waits until it answers, and stops it again. Needs the Debian packages
``orthanc`` and ``orthanc-dicomweb`` (:func:`find_orthanc` says what is missing).

Example:
    >>> import tempfile
    >>> free_port() > 1024
    True
    >>> find_orthanc() is None or find_orthanc().binary.endswith("Orthanc")
    True
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc", "/usr/local/share/orthanc/plugins")


@dataclass(frozen=True)
class OrthancInstall:
    """Where the Orthanc binary and its DICOMweb plugin are.

    Example:
        >>> OrthancInstall("/usr/sbin/Orthanc", "/p/libOrthancDicomWeb.so").binary
        '/usr/sbin/Orthanc'
    """

    binary: str
    dicomweb_plugin: str


def find_orthanc() -> OrthancInstall | None:
    """The installed Orthanc with its DICOMweb plugin, or None when either is missing.

    Example:
        >>> isinstance(find_orthanc(), (OrthancInstall, type(None)))
        True
    """
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
    if binary is None:
        return None
    for folder in _PLUGIN_FOLDERS:
        path = Path(folder) / "libOrthancDicomWeb.so"
        if path.exists():
            return OrthancInstall(binary, str(path))
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it).

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancProcess:
    """A private Orthanc in ``folder``; use as a context manager or call :meth:`start` / :meth:`stop`.

    ``user``/``password`` protect its REST and DICOMweb API; ``aet`` is its AE title;
    ``modalities`` maps names to ``(AE title, host, port)`` of peers it may send to (C-MOVE
    destinations); :meth:`add_modality` adds one while it runs.

    Example:
        >>> import tempfile
        >>> o = OrthancProcess(tempfile.mkdtemp(), aet="PACS")
        >>> o.dicomweb_url.startswith("http://127.0.0.1:") and o.dicomweb_url.endswith("/dicom-web")
        True
    """

    def __init__(self, folder: str | Path, *, aet: str = "ORTHANC", user: str = "lesionviewer",
                 password: str = "pacs-test-password", modalities: dict[str, tuple[str, str, int]] | None = None,
                 max_pdu: int = 16384) -> None:
        self.folder = Path(folder)
        self.aet = aet
        self.user = user
        self.password = password
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.modalities = dict(modalities or {})
        self.max_pdu = max_pdu
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The REST base URL.

        Example:
            >>> import tempfile
            >>> OrthancProcess(tempfile.mkdtemp()).url.startswith("http://127.0.0.1:")
            True
        """
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb base URL (QIDO-RS, WADO-RS, STOW-RS).

        Example:
            >>> import tempfile
            >>> OrthancProcess(tempfile.mkdtemp()).dicomweb_url.endswith("/dicom-web")
            True
        """
        return self.url + "/dicom-web"

    def configuration(self, plugin: str) -> dict:
        """The Orthanc configuration this process runs with.

        Example:
            >>> import tempfile
            >>> c = OrthancProcess(tempfile.mkdtemp(), aet="X").configuration("/p.so")
            >>> c["DicomAet"], c["RemoteAccessAllowed"], c["AuthenticationEnabled"]
            ('X', False, True)
        """
        return {
            "Name": "lesionviewer-test",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.user: self.password},
            "Plugins": [plugin],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "StudiesMetadata": "Full"},
            "DicomModalities": {name: list(peer) for name, peer in self.modalities.items()},
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True,
            "DicomCheckCalledAet": True,
            "DicomScpTimeout": 30,
            "MaximumPduLength": self.max_pdu,
            "StorageCompression": False,
            "OverwriteInstances": True,
            "SaveJobs": False,
            "HttpThreadsCount": 8,
            "DicomThreadsCount": 4,
            "ConcurrentJobs": 2,
            "StableAge": 1,
        }

    def start(self, timeout_s: float = 30.0) -> "OrthancProcess":
        """Start Orthanc and wait until its REST API answers; raises RuntimeError when it cannot.

        Example:
            >>> import tempfile
            >>> OrthancProcess(tempfile.mkdtemp()).is_running()
            False
        """
        install = find_orthanc()
        if install is None:
            raise RuntimeError("Orthanc with its DICOMweb plugin is not installed "
                               "(Debian: apt-get install orthanc orthanc-dicomweb)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.configuration(install.dicomweb_plugin), indent=1))
        log = open(self.folder / "orthanc.log", "ab")
        self.process = subprocess.Popen([install.binary, str(config)], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start (code {self.process.returncode}); "
                                   f"see {self.folder / 'orthanc.log'}")
            try:
                if self.rest("GET", "/system").status_code == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s:.0f} s; see {self.folder / 'orthanc.log'}")

    def is_running(self) -> bool:
        """True while the process is alive.

        Example:
            >>> import tempfile
            >>> OrthancProcess(tempfile.mkdtemp()).is_running()
            False
        """
        return self.process is not None and self.process.poll() is None

    def rest(self, method: str, path: str, **kwargs):
        """One REST call (with the credentials); returns the ``requests`` response.

        Example:
            >>> import tempfile
            >>> o = OrthancProcess(tempfile.mkdtemp())
            >>> try:
            ...     o.rest("GET", "/system", timeout=0.5)
            ... except OSError:
            ...     print("not running")
            not running
        """
        import requests

        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("auth", (self.user, self.password))
        return requests.request(method, self.url + path, **kwargs)

    def upload(self, files: Iterable[str | Path]) -> list[str]:
        """Store DICOM files through the REST API; returns the Orthanc instance IDs.

        Example:
            >>> import tempfile
            >>> OrthancProcess(tempfile.mkdtemp()).upload([])
            []
        """
        import requests

        ids = []
        with requests.Session() as session:
            session.auth = (self.user, self.password)
            for path in files:
                reply = session.post(self.url + "/instances", data=Path(path).read_bytes(), timeout=60)
                reply.raise_for_status()
                ids.append(reply.json()["ID"])
        return ids

    def add_modality(self, name: str, aet: str, host: str, port: int) -> None:
        """Let Orthanc send to (C-MOVE to) a peer while it runs.

        Example:
            >>> import tempfile
            >>> o, sent = OrthancProcess(tempfile.mkdtemp()), []
            >>> class Reply:  # stands in for the REST reply of a running Orthanc
            ...     def raise_for_status(self):
            ...         pass
            >>> o.rest = lambda method, path, **kw: sent.append((method, path, kw["json"])) or Reply()
            >>> o.add_modality("ai", "AI", "127.0.0.1", "11112")
            >>> sent
            [('PUT', '/modalities/ai', {'AET': 'AI', 'Host': '127.0.0.1', 'Port': 11112})]
            >>> o.modalities, o.configuration("/p.so")["DicomModalities"]
            ({'ai': ('AI', '127.0.0.1', 11112)}, {'ai': ['AI', '127.0.0.1', 11112]})
        """
        reply = self.rest("PUT", f"/modalities/{name}", json={"AET": aet, "Host": host, "Port": int(port)})
        reply.raise_for_status()
        self.modalities[name] = (aet, host, int(port))

    def kill(self) -> None:
        """SIGKILL the server (a PACS that goes away); for tests.

        Example:
            >>> import subprocess, sys, tempfile
            >>> o = OrthancProcess(tempfile.mkdtemp())
            >>> o.kill()  # not started: nothing to do
            >>> o.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            >>> o.is_running()
            True
            >>> o.kill(); o.is_running(), o.process.returncode  # -9: killed by SIGKILL
            (False, -9)
        """
        if self.process is not None and self.is_running():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s).

        Example:
            >>> import subprocess, sys, tempfile
            >>> o = OrthancProcess(tempfile.mkdtemp())
            >>> o.stop()  # not started: nothing to do
            >>> o.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            >>> o.stop(); o.is_running(), o.process.returncode  # -15: ended by SIGTERM
            (False, -15)
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> "OrthancProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
