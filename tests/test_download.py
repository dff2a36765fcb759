"""Fetching corpus files: mirror, cache and download paths, each failure with a clear error.

Downloads go to a loopback HTTP server serving archives generated here; no other network."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from pathlib import Path

import pytest

from loopback import LoopbackServer
from s2s.download import DataError, Release, fetch, read_text
from s2s.text import parse_pairs

LINES = "Go.\tVa !\nHi.\tSalut !\nI see.\tJe comprends.\n"


def make_zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


GOOD = make_zip({"fra.txt": LINES, "_about.txt": "about"})
SHA256 = "sha256:" + hashlib.sha256(GOOD).hexdigest()


def release(url: str | None, known_hash: str = SHA256) -> Release:
    return Release(name="test-release", dataset="test", filename="fra-eng.zip",
                   known_hash=known_hash, url=url, member="fra.txt", note="generated for a test")


def cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


@pytest.fixture(autouse=True)
def no_mirror_from_environment(monkeypatch, tmp_path):
    """These tests pass their own mirror and cache; CI's S2S_DATA_DIR must not leak in."""
    monkeypatch.delenv("S2S_DATA_DIR", raising=False)
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path / "env-cache"))


@pytest.fixture
def server():
    routes = {
        "/good.zip": (200, GOOD, None),
        "/truncated.zip": (200, GOOD[: len(GOOD) // 2], len(GOOD)),
    }
    with LoopbackServer(routes) as s:
        yield s


def test_download_is_verified_cached_and_not_repeated(server, tmp_path):
    cache = tmp_path / "cache"
    rel = release(f"{server.url}/good.zip")
    path, got = fetch("test", releases=[rel], mirror=None, cache=cache)
    assert got == rel and path.read_bytes() == GOOD
    assert path.parent == cache / "test-release"
    path2, _ = fetch("test", releases=[rel], mirror=None, cache=cache)
    assert path2 == path and server.hits["/good.zip"] == 1  # second time from the cache
    assert read_text(path, rel) == LINES


def test_wrong_hash_is_refused_and_nothing_is_cached(server, tmp_path):
    cache = tmp_path / "cache"
    rel = release(f"{server.url}/good.zip", known_hash="sha256:" + "0" * 64)
    with pytest.raises(DataError, match="not the expected test-release.*nothing was kept"):
        fetch("test", releases=[rel], mirror=None, cache=cache)
    assert cache_files(cache) == []


def test_truncated_body_is_refused_and_nothing_is_cached(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="fra-eng.zip.*broke off.*IncompleteRead"):
        fetch("test", releases=[release(f"{server.url}/truncated.zip")], mirror=None, cache=cache)
    assert cache_files(cache) == []


def test_http_404_says_so(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404.*S2S_DATA_DIR"):
        fetch("test", releases=[release(f"{server.url}/missing.zip")], mirror=None,
              cache=tmp_path / "cache")


def test_no_network_and_no_mirror_gives_the_actionable_message(tmp_path):
    with socket.socket() as s:  # a loopback port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/fra-eng.zip"
    with pytest.raises(DataError) as err:
        fetch("test", releases=[release(url)], mirror=None, cache=tmp_path / "cache")
    message = str(err.value)
    assert "fra-eng.zip" in message and url in message and "S2S_DATA_DIR" in message


def test_no_url_and_no_mirror_says_to_use_a_mirror(tmp_path):
    with pytest.raises(DataError, match="no stable download URL.*S2S_DATA_DIR"):
        fetch("test", releases=[release(None)], mirror=None, cache=tmp_path / "cache")


def test_verified_mirror_file_is_used_without_network(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "fra-eng.zip").write_bytes(GOOD)
    path, _ = fetch("test", releases=[release("http://127.0.0.1:9/never")], mirror=mirror,
                    cache=tmp_path / "cache")
    assert path == mirror / "fra-eng.zip"


def test_corrupt_mirror_file_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "fra-eng.zip").write_bytes(GOOD[:-10] + b"0123456789")
    with pytest.raises(DataError, match="matches no known release.*corrupt"):
        fetch("test", releases=[release(None)], mirror=mirror, cache=tmp_path / "cache")


def test_mirror_identifies_which_release_by_checksum(tmp_path):
    other = make_zip({"fra-eng/fra.txt": LINES})
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "fra-eng.zip").write_bytes(other)
    second = Release(name="other", dataset="test", filename="fra-eng.zip",
                     known_hash="sha1:" + hashlib.sha1(other).hexdigest(), url=None,
                     member="fra-eng/fra.txt", note="")
    path, got = fetch("test", releases=[release(None), second], mirror=mirror, cache=tmp_path)
    assert got is second and read_text(path, got) == LINES


@pytest.mark.parametrize("bad_name", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt"])
def test_archive_with_unsafe_member_is_refused(tmp_path, bad_name):
    archive = tmp_path / "fra-eng.zip"
    archive.write_bytes(make_zip({"fra.txt": LINES, bad_name: "x"}))
    with pytest.raises(DataError, match="unsafe member"):
        read_text(archive, release(None))


def test_bom_and_three_columns_parse(tmp_path):
    text = ("\ufeffHi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123\n"
            "Run.\t你用跑的。\tCC-BY 2.0 (France) Attribution: tatoeba.org #4008918\n")
    plain = tmp_path / "cmn.txt"
    plain.write_bytes(text.encode("utf-8"))
    rel = Release(name="t", dataset="t", filename="cmn.txt", known_hash="", url=None,
                  member=None, note="")
    pairs, report = parse_pairs(read_text(plain, rel))
    assert pairs == [("Hi.", "嗨。"), ("Run.", "你用跑的。")]
    assert report.three_column == 2 and not report.malformed


def test_blank_and_malformed_lines_are_counted_not_dropped_silently():
    text = "Go.\tVa !\n\nonly one column\nA\tB\tC\tD\n\tempty source\nHi.\tSalut !\n"
    pairs, report = parse_pairs(text)
    assert len(pairs) == 2 and report.lines == 6
    assert report.blank == [2]
    assert [n for n, _ in report.malformed] == [3, 4, 5]
    assert "3 malformed" in str(report) and "line 3" in str(report)
