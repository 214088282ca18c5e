"""Checksummed downloads against a real HTTP server on 127.0.0.1, and safe archive extraction."""

from __future__ import annotations

import functools
import hashlib
import io
import socket
import tarfile
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vaeinfer.data import download as dl
from vaeinfer.data.download import ChecksumError, DownloadError, RemoteFile, extract, fetch, require_file


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format, *args):  # noqa: A002 - silence the server log
        pass

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def _md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MEMBERS = {"pack/a.txt": b"alpha", "pack/sub/b.bin": bytes(range(256)) * 50}


def test_fetch_downloads_and_verifies_tar_and_zip(server, tmp_path):
    root, url = server
    tar = _tar_gz(root / "pack.tar.gz", MEMBERS)
    zp = _zip(root / "pack.zip", MEMBERS)
    dest = tmp_path / "raw"
    got_tar = fetch(RemoteFile("pack.tar.gz", url + "pack.tar.gz", _md5(tar)), dest, progress=False)
    sha = "sha256:" + hashlib.sha256(zp.read_bytes()).hexdigest()
    got_zip = fetch(RemoteFile("pack.zip", url + "pack.zip", sha, size_hint=10), dest, progress=False)
    assert got_tar.read_bytes() == tar.read_bytes() and got_zip.read_bytes() == zp.read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == ["pack.tar.gz", "pack.zip"]  # no temporary files left
    for archive in (got_tar, got_zip):
        out = extract(archive, tmp_path / f"out_{archive.suffix}")
        assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == set(MEMBERS)
        assert (out / "pack/sub/b.bin").read_bytes() == MEMBERS["pack/sub/b.bin"]
    assert not list(tmp_path.glob(".out_*"))  # no temporary extraction directories left


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    root, url = server
    _tar_gz(root / "pack.tar.gz", MEMBERS)
    dest = tmp_path / "raw"
    remote = RemoteFile("pack.tar.gz", url + "pack.tar.gz", "md5:" + "0" * 32)
    with pytest.raises(ChecksumError, match="expected 0{32}") as err:
        fetch(remote, dest, progress=False)
    assert "pack.tar.gz" in str(err.value) and remote.url in str(err.value)
    assert list(dest.iterdir()) == []


def test_unreachable_url_fails_at_once_with_manual_instructions(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/data.tar.gz"
    remote = RemoteFile("data.tar.gz", url, "md5:" + "ab" * 16)
    dest = tmp_path / "raw"
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        fetch(remote, dest, timeout=5, progress=False)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert isinstance(err.value, OSError)
    for part in ("data.tar.gz", url, "on a machine with internet", str(dest / "data.tar.gz"), "ab" * 16):
        assert part in message
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("path", ["missing.tar.gz", "truncated"])
def test_http_errors_and_truncated_transfers_raise_download_error(server, tmp_path, path):
    _, url = server
    dest = tmp_path / "raw"
    with pytest.raises(DownloadError, match=path):
        fetch(RemoteFile(path, url + path, "md5:" + "1" * 32), dest, progress=False)
    assert list(dest.iterdir()) == []


def test_existing_correct_file_is_not_downloaded_again(server, tmp_path):
    _, url = server
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "f.bin").write_bytes(b"content")
    remote = RemoteFile("f.bin", url + "not-served", _md5(dest / "f.bin"))
    assert fetch(remote, dest, progress=False) == dest / "f.bin"
    assert _Handler.requests == []


def test_existing_corrupt_file_raises_and_is_kept(tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "f.bin").write_bytes(b"corrupt")
    remote = RemoteFile("f.bin", "http://127.0.0.1:9/f.bin", "md5:" + "2" * 32)
    with pytest.raises(ChecksumError, match="Delete it") as err:
        fetch(remote, dest, progress=False)
    assert "2" * 32 in str(err.value) and hashlib.md5(b"corrupt").hexdigest() in str(err.value)
    assert (dest / "f.bin").read_bytes() == b"corrupt"


def test_interrupted_download_leaves_no_partial_file(server, tmp_path, monkeypatch):
    root, url = server
    (root / "big.bin").write_bytes(b"y" * 3_000_000)
    monkeypatch.setattr(dl, "_CHUNK", 1000)
    reads = {"n": 0}
    real_urlopen = dl.urllib.request.urlopen

    def interrupting_urlopen(*args, **kwargs):
        response = real_urlopen(*args, **kwargs)
        read = response.read

        def read_then_interrupt(n):
            reads["n"] += 1
            if reads["n"] == 3:
                raise KeyboardInterrupt
            return read(n)

        response.read = read_then_interrupt
        return response

    monkeypatch.setattr(dl.urllib.request, "urlopen", interrupting_urlopen)
    dest = tmp_path / "raw"
    with pytest.raises(KeyboardInterrupt):
        fetch(RemoteFile("big.bin", url + "big.bin", "md5:" + "3" * 32), dest, progress=False)
    assert list(dest.iterdir()) == []


def test_bad_checksum_strings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="invalid checksum"):
        fetch(RemoteFile("f", "http://127.0.0.1:9/f", "crc32:abcd"), tmp_path)
    with pytest.raises(ValueError, match="invalid checksum"):
        fetch(RemoteFile("f", "http://127.0.0.1:9/f", "md5:xyz"), tmp_path)


def test_require_file_names_file_url_and_command(tmp_path):
    remote = RemoteFile("x.zip", "https://example.org/x.zip", "md5:" + "4" * 32)
    with pytest.raises(FileNotFoundError) as err:
        require_file(remote, tmp_path, how="`make x`")
    for part in (str(tmp_path / "x.zip"), remote.url, "4" * 32, "`make x`"):
        assert part in str(err.value)


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("bad", ["../evil.txt", "pack/../../evil.txt", "/abs/evil.txt"])
def test_extract_rejects_escaping_members(tmp_path, kind, bad):
    members = {"pack/ok.txt": b"ok", bad: b"evil"}
    archive = _tar_gz(tmp_path / "a.tar.gz", members) if kind == "tar" else _zip(tmp_path / "a.zip", members)
    target = tmp_path / "work" / "out"
    with pytest.raises(ValueError, match="unsafe member"):
        extract(archive, target)
    assert not target.exists()
    assert list((tmp_path / "work").iterdir()) == []  # the temporary directory is gone too
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "work" / "evil.txt").exists()


def test_extract_rejects_links_and_is_idempotent(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        link = tarfile.TarInfo("pack/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(ValueError, match="links"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()

    good = _tar_gz(tmp_path / "good.tar.gz", MEMBERS)
    out = extract(good, tmp_path / "good", members=lambda name: name.endswith(".txt"))
    assert [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()] == ["pack/a.txt"]
    (out / "pack/a.txt").write_bytes(b"edited")
    assert extract(good, out) == out and (out / "pack/a.txt").read_bytes() == b"edited"  # finished: untouched
    with pytest.raises(ValueError, match="only .zip and .tar.gz"):
        extract(tmp_path / "x.rar", tmp_path / "rar")
