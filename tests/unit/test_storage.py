"""Disk and memory storage, verification of damaged data, and resume records."""

from __future__ import annotations

import dataclasses
import os
import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from swarmseek.transfer import (
    DiskStorage,
    Info,
    InfoHash,
    MemoryStorage,
    PieceStorage,
    ResumeRecord,
    ResumeStore,
    StorageError,
    UnsafePathError,
    create_torrent,
    from_bitfield,
    infohash_of,
    sha1,
    to_bitfield,
    verify,
)

PL = 16384
SIZES = {"a": 10_000, "b/c": 40_000, "d": 0, "e": 30_001}


@pytest.fixture
def share(tmp_path: Path) -> tuple[Info, Path]:
    """A multi-file torrent of random data under ``tmp_path/save/t``."""
    rng = random.Random(7)
    root = tmp_path / "save" / "t"
    for name, size in SIZES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rng.randbytes(size))
    return create_torrent(root, piece_length=PL).metainfo.info, tmp_path / "save"


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _copy_through(info: Info, src: PieceStorage, dst: PieceStorage) -> None:
    # Write in odd-sized blocks, last piece first, to exercise spans and laziness.
    for piece in reversed(range(info.num_pieces)):
        size = info.piece_size(piece)
        for offset in range(0, size, 5000):
            n = min(5000, size - offset)
            dst.write_block(piece, offset, src.read_block(piece, offset, n))


@pytest.mark.parametrize("kind", ["disk", "memory"])
def test_storage_round_trip_across_files(
    share: tuple[Info, Path], tmp_path: Path, kind: str
) -> None:
    info, save = share
    with DiskStorage(info, save) as source:
        target: PieceStorage = (
            DiskStorage(info, tmp_path / "out", max_open_files=1)
            if kind == "disk"
            else MemoryStorage(info)
        )
        _copy_through(info, source, target)
        for piece in range(info.num_pieces):
            assert sha1(target.read_piece(piece)) == info.piece_hash(piece)
        target.flush()
        target.close()
    if kind == "disk":
        assert verify(info, tmp_path / "out").complete
        assert (tmp_path / "out" / "t" / "b" / "c").stat().st_size == 40_000


def test_disk_storage_reads_of_unwritten_data_fail(
    share: tuple[Info, Path], tmp_path: Path
) -> None:
    info, _ = share
    with DiskStorage(info, tmp_path / "empty") as storage:
        with pytest.raises(StorageError, match="does not exist"):
            storage.read_block(0, 0, 100)
        assert not (tmp_path / "empty").exists()  # reading creates nothing
        storage.write_block(0, 0, b"x" * 100)
        with pytest.raises(StorageError, match="too short"):
            storage.read_block(0, 0, 200)
        with pytest.raises(StorageError):
            storage.write_block(info.num_pieces, 0, b"x")
        with pytest.raises(StorageError):
            storage.write_block(0, PL - 1, b"xx")


def test_memory_storage_reads_of_unwritten_data_fail(share: tuple[Info, Path]) -> None:
    storage = MemoryStorage(share[0])
    storage.write_block(1, 0, b"a" * 10)
    assert storage.read_block(1, 2, 5) == b"aaaaa"
    with pytest.raises(StorageError, match="never written"):
        storage.read_block(1, 5, 10)
    with pytest.raises(StorageError):
        storage.read_block(0, 0, 1)


def test_disk_storage_confines_paths(share: tuple[Info, Path], tmp_path: Path) -> None:
    # Even an Info built by hand (not parsed) cannot make storage leave the folder.
    info = share[0]
    evil = dataclasses.replace(
        info, files=(dataclasses.replace(info.files[0], path=("..", "..", "x")), *info.files[1:])
    )
    with pytest.raises(UnsafePathError):
        DiskStorage(evil, tmp_path / "out")


@pytest.mark.parametrize("damage", ["flip", "missing", "truncate", "extend"])
def test_verify_damaged_data_reports_and_leaves_it_untouched(
    share: tuple[Info, Path], damage: str
) -> None:
    info, save = share
    root = save / "t"
    if damage == "flip":
        data = bytearray((root / "b" / "c").read_bytes())
        data[20_000] ^= 1
        (root / "b" / "c").write_bytes(data)
    elif damage == "missing":
        (root / "a").unlink()
    elif damage == "truncate":
        os.truncate(root / "e", 100)
    else:
        with (root / "e").open("ab") as f:
            f.write(b"extra bytes beyond the torrent are not its business")
    before = _snapshot(save)
    result = verify(info, save)
    assert _snapshot(save) == before
    if damage == "flip":
        # byte 10_000 + 20_000 of the stream lies in piece 1
        assert (result.bad, result.missing, result.files) == ((1,), (), ())
    elif damage == "missing":
        assert result.missing == (0,)
        assert [(p.path.name, p.actual) for p in result.files] == [("a", None)]
    elif damage == "truncate":
        assert result.missing == (3, 4)  # e covers bytes 50_000..80_001
        assert [(p.path.name, p.actual) for p in result.files] == [("e", 100)]
    else:
        assert result.complete
    assert result.complete is (damage == "extend")


def test_resume_trusts_unchanged_files_and_rechecks_changed_ones(
    share: tuple[Info, Path], tmp_path: Path
) -> None:
    info, save = share
    store = ResumeStore(tmp_path / "state.sqlite")
    first = verify(info, save, resume=store)
    assert first.complete and first.checked == info.num_pieces
    again = verify(info, save, resume=store)
    assert again.complete and again.checked == 0
    path = save / "t" / "e"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(data)
    os.utime(path, ns=(1, 1))  # a different mtime, as any edit would give
    third = verify(info, save, resume=store)
    assert third.bad == (3,)
    assert third.checked == len(range(3, 5))
    store.close()
    reopened = ResumeStore(sqlite3.connect(tmp_path / "state.sqlite"))
    record = reopened.load(info.infohash)
    assert record is not None and record.have[3] is False
    reopened.forget(info.infohash)
    assert reopened.load(info.infohash) is None


def test_resume_record_of_another_shape_is_ignored(share: tuple[Info, Path]) -> None:
    info, save = share
    store = ResumeStore(":memory:")
    store.save(info.infohash, ResumeRecord((True,), (None,)))
    assert verify(info, save, resume=store).checked == info.num_pieces


def test_bitfield_round_trip() -> None:
    have = [True, False, True, True, False, False, False, False, True]
    bits = to_bitfield(have)
    assert bits == bytes([0b10110000, 0b10000000])
    assert from_bitfield(bits, 9) == have
    with pytest.raises(ValueError):
        from_bitfield(bits, 17)


def test_info_from_bytes_matches_created(share: tuple[Info, Path]) -> None:
    info = share[0]
    assert Info.from_bytes(info.raw, infohash_of(info.raw)) == info


def test_planted_symlink_does_not_redirect_writes(share: tuple[Info, Path], tmp_path: Path) -> None:
    info, _ = share
    out = tmp_path / "out" / "t"
    out.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (out / "a").symlink_to(victim)  # file "a" holds the start of piece 0
    with DiskStorage(info, tmp_path / "out") as storage, pytest.raises(StorageError):
        storage.write_block(0, 0, b"x" * 100)
    assert victim.read_bytes() == b"precious"


def test_create_empty_files(share: tuple[Info, Path], tmp_path: Path) -> None:
    info, _ = share
    with DiskStorage(info, tmp_path / "out") as storage:
        storage.create_empty_files()
    assert (tmp_path / "out" / "t" / "d").stat().st_size == 0
    assert not (tmp_path / "out" / "t" / "a").exists()  # data files stay lazy


class _Recorder:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def flush(self) -> None:
        self.log.append("flush")


class _LoggingStore(ResumeStore):
    def __init__(self, log: list[str]) -> None:
        super().__init__(":memory:")
        self.log = log

    def save(self, infohash: InfoHash, record: ResumeRecord) -> None:
        self.log.append("save")
        super().save(infohash, record)


def test_commit_flushes_before_recording(share: tuple[Info, Path]) -> None:
    info, save_path = share
    log: list[str] = []
    store = _LoggingStore(log)
    paths = [save_path / "t" / p for p in ("a", "b/c", "d", "e")]
    store.commit(info.infohash, [True] * info.num_pieces, _Recorder(log), paths)
    assert log == ["flush", "save"]
    assert verify(info, save_path, resume=store).checked == 0


def test_disk_storage_is_safe_from_many_threads(share: tuple[Info, Path], tmp_path: Path) -> None:
    info, save = share
    with DiskStorage(info, save) as source:
        pieces = [source.read_piece(p) for p in range(info.num_pieces)]
    target = DiskStorage(info, tmp_path / "out", max_open_files=1)  # constant eviction
    blocks = [
        (p, o, pieces[p][o : o + 1000])
        for p in range(info.num_pieces)
        for o in range(0, len(pieces[p]), 1000)
    ]
    random.Random(1).shuffle(blocks)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: target.write_block(*b), blocks))
        read = list(pool.map(target.read_piece, range(info.num_pieces)))
    target.close()
    assert read == pieces
    assert verify(info, tmp_path / "out").complete


def test_verify_when_files_are_folders_or_the_folder_is_a_file(
    share: tuple[Info, Path], tmp_path: Path
) -> None:
    info, save = share
    (save / "t" / "a").unlink()
    (save / "t" / "a").mkdir()  # a folder where file "a" should be
    result = verify(info, save)
    assert result.missing == (0,)
    assert [(p.path.name, p.actual) for p in result.files] == [("a", None)]
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "t").write_bytes(b"a file where the torrent's folder should be")
    result = verify(info, odd)
    assert result.num_have == 0 and len(result.files) == 4


def test_memory_storage_filled_is_a_seeder(share: tuple[Info, Path]) -> None:
    info, save = share
    stream = b"".join((save / "t" / p).read_bytes() for p in ("a", "b/c", "d", "e"))
    seeder = MemoryStorage.filled(info, stream)
    assert all(sha1(seeder.read_piece(p)) == info.piece_hash(p) for p in range(info.num_pieces))
    with pytest.raises(StorageError):
        MemoryStorage.filled(info, stream[:-1])


def open_into(folder: Path) -> list[str]:
    """This process's open descriptors of files under ``folder``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between the listing and the look
            continue
        if target.startswith(str(folder) + os.sep):
            found.append(target)
    return found


def test_disk_storage_io_outside_its_lock_leaks_no_descriptor(
    share: tuple[Info, Path], tmp_path: Path
) -> None:
    # Reads and writes of many threads at once with one descriptor allowed: handles are
    # evicted while other threads use them, and each must still be closed exactly once.
    info, save = share
    with DiskStorage(info, save) as source:
        pieces = [source.read_piece(p) for p in range(info.num_pieces)]
    out = tmp_path / "out"
    assert open_into(out) == []
    target = DiskStorage(info, out, max_open_files=1)
    for piece, data in enumerate(pieces):  # every piece once, so reads can run beside writes
        target.write_block(piece, 0, data)
    jobs = [("w", p, o) for p in range(info.num_pieces) for o in range(0, len(pieces[p]), 700)]
    jobs += [("r", p, 0) for p in range(info.num_pieces)] * 20
    random.Random(2).shuffle(jobs)

    def run(job: tuple[str, int, int]) -> bytes | None:
        kind, piece, offset = job
        if kind == "w":
            target.write_block(piece, offset, pieces[piece][offset : offset + 700])
            return None
        return target.read_piece(piece)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, jobs))
    target.close()
    assert all(r == pieces[j[1]] for j, r in zip(jobs, results, strict=True) if r is not None)
    # Only descriptors of the files under test: the whole process's count also moved
    # with other tests' sockets and pipes closed by the collector meanwhile (a flake).
    assert open_into(out) == []
    assert verify(info, out).complete
