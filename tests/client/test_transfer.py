"""upload/download through a remote command, hash-checked on both sides."""

from __future__ import annotations

import hashlib
import os

import pytest
import wsep_client
from support.client import CP_SIZE
from wsep_client import TransferError
from wsep_protocol import ProtocolVersion

pytestmark = pytest.mark.usefixtures("no_leaked_children")


def _random_file(path, size: int) -> str:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def _sha256(path) -> str:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.parametrize("version", [ProtocolVersion.V1, ProtocolVersion.V2])
async def test_upload_and_download_round_trip(url: str, tmp_path, version) -> None:
    src = tmp_path / "src.bin"
    want = _random_file(src, CP_SIZE)
    remote_path = str(tmp_path / "remote.bin")
    back = tmp_path / "back.bin"
    seen: list[tuple[int, int | None]] = []
    async with wsep_client.connect(url, version=version) as remote:
        up = await wsep_client.upload(
            remote, src, remote_path, progress=lambda d, t: seen.append((d, t))
        )
        down = await wsep_client.download(remote, remote_path, back)
    assert up.verified
    assert down.verified
    assert up.sha256 == down.sha256 == want == _sha256(remote_path) == _sha256(back)
    assert up.size == down.size == CP_SIZE
    assert seen[-1] == (CP_SIZE, CP_SIZE)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not (tmp_path / "back.bin.wsep-part").exists()


async def test_download_of_a_missing_file(url: str, tmp_path) -> None:
    target = tmp_path / "never"
    async with wsep_client.connect(url) as remote:
        with pytest.raises(TransferError, match="not a readable file"):
            await wsep_client.download(remote, str(tmp_path / "missing"), target)
    assert not target.exists()
    assert not (tmp_path / "never.wsep-part").exists()


async def test_upload_into_a_missing_directory(url: str, tmp_path) -> None:
    src = tmp_path / "small"
    src.write_bytes(b"data")
    async with wsep_client.connect(url) as remote:
        with pytest.raises(TransferError, match="upload to"):
            await wsep_client.upload(remote, src, str(tmp_path / "no" / "such" / "dir"))


async def test_upload_of_a_missing_local_file(url: str, tmp_path) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(TransferError, match="No such file"):
            await wsep_client.upload(remote, tmp_path / "absent", str(tmp_path / "x"))
