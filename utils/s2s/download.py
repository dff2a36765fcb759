"""Getting the corpus files: a registry of known releases, a verified mirror, pooch downloads.

Every file is identified by its checksum. `fetch(dataset)` looks, in order:
1. in the mirror folder `$S2S_DATA_DIR` (CI sets it to `../shared/data`), whose file must match
   one of the dataset's known releases, else it is refused;
2. in the download cache (`$S2S_CACHE_DIR`, default: the OS cache folder `s2s`);
3. on the network, through pooch (hash-verified, atomic: a failed or corrupt download leaves
   nothing in the cache).

A set `S2S_DATA_DIR` is a promise: if it is not a folder holding the dataset's file, `fetch`
fails with an error that says so; it never falls back to the cache or the network.
A download has an overall deadline (`$S2S_DOWNLOAD_DEADLINE` seconds, default 900) and fails
when no byte arrives for `$S2S_DOWNLOAD_STALL` seconds (default 30).
"""

from __future__ import annotations

import math
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from s2s import settings


@dataclass(frozen=True)
class Release:
    """One exact file of a corpus. `known_hash` is pooch's "alg:hexdigest"."""

    name: str
    dataset: str
    filename: str  # the file's name in a mirror folder and in the cache
    known_hash: str
    url: str | None  # None: no stable public URL serves this exact file; mirrors only
    member: str | None  # the text file inside a zip archive; None for a plain text file
    note: str


RELEASES: dict[str, Release] = {
    r.name: r
    for r in [
        Release(
            name="fra-eng-2017-09-29", dataset="fra-eng", filename="fra-eng.zip",
            known_hash="sha256:16c4f7d0df9e7c5e6c54cdb0447f3f4a18a55052ff5e2e0b27dd4a06c0e49d04",
            url=None, member="fra.txt",
            note="manythings.org/anki release of 2017-09-29, 142,787 pairs (two columns). "
            "manythings replaces the file at its URL with each new release, so this exact "
            "file comes from a mirror.",
        ),
        Release(
            name="fra-eng-d2l", dataset="fra-eng", filename="fra-eng.zip",
            known_hash="sha1:94646ad1522d915e7b0f9296181140edcf86a4f5",
            url="http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip", member="fra-eng/fra.txt",
            note="the release the d2l.ai book downloads (two columns)",
        ),
        Release(
            name="cmn-eng-3col", dataset="cmn-eng", filename="cmn.txt",
            known_hash="sha256:aa264a2447b26ab7c9d413f8321f9e2a779fd134b5118306b6e26a3499b3926e",
            url=None, member=None,
            note="manythings.org/anki English-Mandarin, 29,155 pairs, three columns, UTF-8 with a "
            "byte-order mark. manythings replaces its files with each release, so this exact "
            "file comes from a mirror.",
        ),
    ]
}

# For each dataset: its releases in the order a cache is searched; a download takes the first
# one that has a URL.
DATASETS: dict[str, tuple[str, ...]] = {
    "fra-eng": ("fra-eng-2017-09-29", "fra-eng-d2l"),
    "cmn-eng": ("cmn-eng-3col",),
}


class DataError(RuntimeError):
    """A corpus file could not be found, downloaded, verified or read. The message says why."""


def mirror_dir() -> Path | None:
    """The folder `$S2S_DATA_DIR` names (None when unset or empty); one that does not exist or
    is not a folder is an error, never ignored."""
    value = settings.value("S2S_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise DataError(f"S2S_DATA_DIR is set to {value!r}, which does not exist: point it at "
                        "the folder that holds the corpus files (CI: ../shared/data), or unset "
                        "it to use the download cache")
    if not path.is_dir():
        raise DataError(f"S2S_DATA_DIR is set to {value!r}, which is a file, not a folder: "
                        "point it at the folder that holds the corpus files (CI: "
                        "../shared/data), or unset it to use the download cache")
    return path


def cache_dir() -> Path:
    """The download and model cache: `$S2S_CACHE_DIR`, else the OS cache folder `s2s`."""
    import pooch

    value = settings.value("S2S_CACHE_DIR")
    path = Path(value).expanduser() if value else Path(pooch.os_cache("s2s"))
    if path.exists() and not path.is_dir():
        where = f"S2S_CACHE_DIR={value!r}" if value else f"the cache folder {path}"
        raise DataError(f"{where} is a file, not a folder: point S2S_CACHE_DIR at a folder "
                        "(it is created when missing), or remove the file")
    return path


def _matches(path: Path, release: Release) -> bool:
    """Whether the file at `path` has `release`'s hash; a file that cannot be read (no
    permission, a folder's name, a disk error) is a DataError naming it."""
    import pooch

    try:
        return pooch.hashes.hash_matches(str(path), release.known_hash)
    except OSError as err:
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err.strerror or err}): "
                        "make it readable (e.g. chmod a+r), or replace it with a verified copy; "
                        "for a mirror, unset S2S_DATA_DIR to use the download cache") from err


def _identify(path: Path, releases: list[Release]) -> Release | None:
    return next((r for r in releases if _matches(path, r)), None)


def fetch(
    dataset: str,
    *,
    mirror: Path | None = None,
    cache: Path | None = None,
    releases: list[Release] | None = None,
    deadline_s: float | None = None,
    stall_s: float | None = None,
) -> tuple[Path, Release]:
    """Find, verify or download a file of `dataset`. Returns (local path, which release).

    mirror/cache default to `$S2S_DATA_DIR` / `$S2S_CACHE_DIR`; `releases` defaults to the
    dataset's registered releases (tests pass their own). A download fails after `deadline_s`
    seconds in all, or when no byte arrives for `stall_s` seconds (defaults:
    `$S2S_DOWNLOAD_DEADLINE`, else 900; `$S2S_DOWNLOAD_STALL`, else 30)."""
    deadline_s = _seconds("deadline_s", deadline_s, "S2S_DOWNLOAD_DEADLINE", 900.0)
    stall_s = _seconds("stall_s", stall_s, "S2S_DOWNLOAD_STALL", 30.0)
    if releases is None:
        if dataset not in DATASETS:
            raise DataError(f"unknown dataset {dataset!r}: known are {', '.join(DATASETS)}")
        releases = [RELEASES[n] for n in DATASETS[dataset]]
    origin = "the mirror folder" if mirror is not None else "S2S_DATA_DIR"
    mirror = mirror if mirror is not None else mirror_dir()
    cache = cache if cache is not None else cache_dir()

    if mirror is not None:
        filenames = list(dict.fromkeys(r.filename for r in releases))
        for filename in filenames:
            candidate = mirror / filename
            if candidate.is_file():
                release = _identify(candidate, [r for r in releases if r.filename == filename])
                if release is None:
                    raise DataError(
                        f"{candidate} (from {origin}) matches no known release of "
                        f"{dataset!r} (expected one of: "
                        f"{', '.join(r.known_hash for r in releases)}). It is corrupt or an "
                        "unknown release: replace it with a verified copy, or unset "
                        "S2S_DATA_DIR to download."
                    )
                return candidate, release
        if not mirror.is_dir():
            raise DataError(f"{origin} {mirror} is not a folder: pass the folder that holds "
                            f"{' or '.join(filenames)}")
        raise DataError(
            f"{origin} is set to {str(mirror)!r}, but that folder holds no "
            f"{' or '.join(filenames)} for {dataset!r}: put a verified copy there, or unset "
            "S2S_DATA_DIR to use the download cache (a set mirror is never bypassed)."
        )

    for release in releases:
        cached = cache / release.name / release.filename
        if cached.is_file() and _matches(cached, release):
            return cached, release

    downloadable = [r for r in releases if r.url]
    if not downloadable:
        names = ", ".join(sorted({r.filename for r in releases}))
        raise DataError(
            f"{names} for {dataset!r} is not in a mirror and has no stable download URL "
            f"({releases[0].note}). Put a verified copy in a folder and set "
            "S2S_DATA_DIR=/that/folder."
        )
    release = downloadable[0]
    return _download(release, cache, deadline_s, stall_s), release


def _seconds(name: str, value: float | None, variable: str, default: float) -> float:
    """A positive, finite number of seconds: `value`, else `$variable`, else `default`."""
    where = name
    if value is None:
        text = settings.value(variable)
        if not text:
            return default
        where = f"{variable} (from the environment)"
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise DataError(f"{where} must be a positive number of seconds, got {value!r}")
    return float(value)


CHUNK = 64 * 1024


class _Transfer:
    """What one download has received so far, for its error messages."""

    def __init__(self, deadline_s: float, stall_s: float) -> None:
        self.deadline_s, self.stall_s = deadline_s, stall_s
        self.start = time.monotonic()
        self.received = 0
        self.total: int | None = None  # the declared Content-Length

    def progress(self) -> str:
        of = f" of {self.total:,}" if self.total else ""
        seconds = time.monotonic() - self.start
        return (f"{self.received:,}{of} bytes received in {seconds:.1f} s, "
                f"{self.received / max(seconds, 1e-9) / 1000:.1f} kB/s")


class _Stalled(Exception):
    pass


class _Deadline(Exception):
    pass


class _BrokeOff(Exception):
    pass


def _downloader(transfer: _Transfer):
    """A pooch downloader: streams with requests, checking the deadline after every read and
    failing when one read waits `stall_s` seconds for a byte (requests' read timeout)."""
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError

    def download(url: str, output_file: str, pooch_instance: object = None) -> None:
        transfer.start = time.monotonic()
        wait = min(transfer.stall_s, transfer.deadline_s)
        try:
            response = requests.get(url, stream=True, timeout=(wait, wait))
        except requests.exceptions.ReadTimeout as err:
            raise _Stalled("the server accepted the connection but sent no response") from err
        with response:
            response.raise_for_status()
            length = response.headers.get("Content-Length", "")
            transfer.total = int(length) if length.isdigit() else None
            read = getattr(response.raw, "read1", None) or response.raw.read
            with open(output_file, "wb") as out:
                while True:
                    if time.monotonic() - transfer.start > transfer.deadline_s:
                        raise _Deadline()
                    try:
                        chunk = read(CHUNK, decode_content=True)
                    except ReadTimeoutError as err:
                        raise _Stalled("no data arrived") from err
                    except (Urllib3Error, OSError) as err:
                        raise _BrokeOff(f"{type(err).__name__}: {err}") from err
                    if not chunk:
                        break
                    out.write(chunk)
                    transfer.received = response.raw.tell()
            if transfer.total is not None and transfer.received < transfer.total:
                raise _BrokeOff("IncompleteRead: the connection closed early")

    return download


def _download(release: Release, cache: Path, deadline_s: float = 900.0,
              stall_s: float = 30.0) -> Path:
    import pooch  # the downloader's libraries load only when a download happens
    import requests

    assert release.url is not None
    how = (
        f"Either connect to the internet, or put a verified copy of {release.filename} in a "
        "folder and set S2S_DATA_DIR=/that/folder (CI uses ../shared/data)."
    )
    what = f"downloading {release.filename} from {release.url}"
    transfer = _Transfer(deadline_s, stall_s)
    try:
        path = pooch.retrieve(
            release.url, known_hash=release.known_hash, fname=release.filename,
            path=cache / release.name, progressbar=False, downloader=_downloader(transfer),
        )
    except _Stalled as err:
        raise DataError(
            f"{what} stalled: {err} for {stall_s:g} s ({transfer.progress()}); nothing "
            f"was kept. The server or the connection hung: try again later, allow a longer "
            f"wait with S2S_DOWNLOAD_STALL=<seconds>, or put a verified copy of "
            f"{release.filename} in a folder and set S2S_DATA_DIR=/that/folder.") from err
    except _Deadline as err:
        raise DataError(
            f"{what} did not finish within its deadline of {deadline_s:g} s ({transfer.progress()}"
            f" so far); nothing was kept. The connection is too slow: allow more time with "
            f"S2S_DOWNLOAD_DEADLINE=<seconds>, or put a verified copy of {release.filename} in a "
            "folder and set S2S_DATA_DIR=/that/folder.") from err
    except _BrokeOff as err:
        raise DataError(f"{what} broke off ({err}; {transfer.progress()}); nothing was kept. "
                        "The connection was cut: try again, or put a verified copy of "
                        f"{release.filename} in a folder and set S2S_DATA_DIR=/that/folder."
                        ) from err
    except requests.exceptions.HTTPError as err:
        status = err.response.status_code if err.response is not None else "?"
        raise DataError(f"{what} failed: HTTP {status}. {how}") from err
    except requests.exceptions.ConnectTimeout as err:
        raise DataError(f"cannot download {release.filename} from {release.url}: no connection "
                        f"within {min(stall_s, deadline_s):g} s (no network, or the server is "
                        f"unreachable). {how}") from err
    except requests.exceptions.ConnectionError as err:
        raise DataError(f"cannot download {release.filename} from {release.url}: could not "
                        f"connect (no network connection, or the server refused: "
                        f"{type(err).__name__}). {how}") from err
    except requests.exceptions.RequestException as err:
        raise DataError(f"{what} broke off ({type(err).__name__}: {err}); nothing was kept. "
                        f"{how}") from err
    except ValueError as err:  # pooch: the downloaded file's hash does not match
        raise DataError(f"the file downloaded from {release.url} is not the expected "
                        f"{release.name} ({err}); nothing was kept in the cache.") from err
    return Path(path)


def _safe_member_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return not (path.is_absolute() or ".." in path.parts or (name[1:2] == ":"))


def read_text(path: Path, release: Release) -> str:
    """The release's text, decoded as UTF-8 (a leading byte-order mark removed).

    Archives are read in memory, never extracted; an archive with any absolute or `..` member
    name is refused."""
    if release.member is None:
        raw = path.read_bytes()
    else:
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as err:
            raise DataError(f"{path} is not a readable zip archive") from err
        with archive:
            unsafe = [n for n in archive.namelist() if not _safe_member_name(n)]
            if unsafe:
                raise DataError(f"{path} holds unsafe member names {unsafe[:3]} (absolute or "
                                "'..' paths): refused")
            if release.member not in archive.namelist():
                raise DataError(f"{path} has no member {release.member!r} "
                                f"(members: {archive.namelist()[:5]})")
            try:
                raw = archive.read(release.member)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                raise DataError(f"{path}: its member {release.member!r} is damaged ({err}): "
                                "replace the archive with a verified copy") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: {release.member or path.name} is not UTF-8 text ({err})") from err
