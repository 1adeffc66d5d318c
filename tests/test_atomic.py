import os
import stat

import pytest

from lesionviewer.util.atomic import atomic_open, atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second, longer")
    assert target.read_text() == "second, longer"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write(b"half-writ")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_open_refuses_read_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "rb"):
            pass


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permission bits")
def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path):
    mask = os.umask(0o027)
    try:
        from lesionviewer.util import atomic

        atomic._process_umask.cache_clear()
        fresh = tmp_path / "export.csv"
        atomic_write_text(fresh, "a,b\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600
        kept = tmp_path / "shared.csv"
        kept.write_text("old")
        kept.chmod(0o664)
        atomic_write_text(kept, "new")
        assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o664
    finally:
        os.umask(mask)
        atomic._process_umask.cache_clear()


@pytest.mark.parametrize("opener", ["atomic_open", "atomic_write_text"])
def test_temporary_file_is_made_beside_the_target(tmp_path, monkeypatch, opener):
    # os.replace is only atomic within one file system: the temporary must live in the target's folder
    from lesionviewer.util import atomic

    target = tmp_path / "reviews" / "series.json"
    target.parent.mkdir()
    seen = {}
    real_replace = os.replace

    def recording_replace(src, dst):
        seen["src"], seen["dst"] = os.path.abspath(src), os.path.abspath(dst)
        seen["beside"] = sorted(p.name for p in target.parent.iterdir())
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", recording_replace)
    if opener == "atomic_open":
        with atomic_open(target, "w", encoding="utf-8") as handle:
            handle.write("x")
            # while writing, the only file in the target's folder is the temporary, not the target
            [pending] = list(target.parent.iterdir())
            assert pending.name != target.name
            assert pending.stat().st_dev == target.parent.stat().st_dev
    else:
        atomic_write_text(target, "x")
    assert os.path.dirname(seen["src"]) == str(target.parent)
    assert seen["dst"] == str(target)
    assert len(seen["beside"]) == 1 and seen["beside"][0] != target.name
    assert target.read_text() == "x" and os.listdir(target.parent) == ["series.json"]


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permission bits")
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o000, 0o666)])
def test_new_files_get_0666_less_the_umask(tmp_path, umask, expected):
    from lesionviewer.util import atomic

    mask = os.umask(umask)
    try:
        atomic._process_umask.cache_clear()
        atomic_write_bytes(tmp_path / "f.bin", b"x")
        assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == expected
    finally:
        os.umask(mask)
        atomic._process_umask.cache_clear()


def test_text_is_utf8_whatever_the_locale(tmp_path):
    # under the plain C locale (no UTF-8 coercion) Python's default encoding is ASCII
    import subprocess
    import sys

    target = tmp_path / "note.txt"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code = ("import sys; from lesionviewer.util.atomic import atomic_write_text; "
            "atomic_write_text(sys.argv[1], 'caf\\u00e9'); print(sys.getfilesystemencoding())")
    done = subprocess.run([sys.executable, "-c", code, str(target)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == "café".encode("utf-8")


def test_a_folder_that_cannot_be_synced_does_not_fail_the_write(tmp_path, monkeypatch):
    # some file systems refuse fsync on a directory (EINVAL); the file itself is already synced
    from lesionviewer.util import atomic

    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    atomic_write_text(tmp_path / "f.txt", "ok")
    assert (tmp_path / "f.txt").read_text() == "ok"


@pytest.mark.parametrize("encoding, expected", [
    ("latin-1", b"caf\xe9"),  # ISO 8859-1: U+00E9 is the single byte 0xE9
    ("utf-16-le", b"c\x00a\x00f\x00\xe9\x00"),  # two bytes a code unit, low byte first, no BOM
])
def test_the_encoding_asked_for_is_the_one_written(tmp_path, encoding, expected):
    atomic_write_text(tmp_path / "note.txt", "café", encoding=encoding)
    assert (tmp_path / "note.txt").read_bytes() == expected
