"""Bad input gives a typed LoadError naming the file and the problem: never a crash, a hang or a bare traceback."""
from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.bad_dicom import CASES, edit_dicom, one_valid_file, write_valid_series
from lesionviewer.io import (
    CorruptFileError,
    LoadError,
    NotDicomError,
    Volume,
    find_series,
    load_volume,
)
from lesionviewer.io.dicom_header import read_slice_header


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_gives_its_error_naming_the_file(name, tmp_path):
    case = CASES[name]
    path = case.build(tmp_path)
    with pytest.raises(case.error) as caught:
        load_volume(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert case.phrase in message
    assert caught.value.path == str(path)


def test_absurd_size_is_refused_before_allocating(tmp_path):
    path = CASES["absurd image size"].build(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(LoadError):
            load_volume(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the declared image would be 80 TiB


def test_missing_path_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="no such file or folder"):
        load_volume(tmp_path / "nowhere")


def test_file_without_preamble_or_tags_is_not_dicom(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(NotDicomError, match="random.bin"):
        load_volume(path)


def test_one_broken_file_in_a_series_is_left_out_with_a_warning(tmp_path):
    files = write_valid_series(tmp_path / "s", 6)
    files[2].write_bytes(files[2].read_bytes()[:-100])  # truncate one slice
    vol = load_volume(tmp_path / "s")
    # the broken slice is left out; its place becomes a blank slice so distances stay true
    assert vol.num_slices == 6
    assert vol.meta["missing_slices"] == [2]
    assert any("could not be read" in w and files[2].name in w for w in vol.warnings)
    assert any("missing" in w for w in vol.warnings)


def test_folder_of_only_broken_dicom_raises_the_files_error(tmp_path):
    path = one_valid_file(tmp_path, "only")
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CorruptFileError, match="truncated"):
        load_volume(tmp_path)


def test_find_series_lists_good_series_beside_broken_files(tmp_path):
    for case in CASES.values():
        place = tmp_path / case.build.__name__
        place.mkdir()
        case.build(place)
    write_valid_series(tmp_path / "good", 3, series_description="good one")
    series = find_series(tmp_path)
    [good] = [s for s in series if s.series_description == "good one"]
    assert good.num_slices == 3 and good.image_size == (16, 16)
    assert good.load().shape == (3, 16, 16)
    assert all(s.problems for s in series)  # every listed series reports the unreadable files


def test_bad_tag_values_are_a_corrupt_file_error(tmp_path):
    path = one_valid_file(tmp_path)
    edit_dicom(path, ImagePositionPatient=["1", "2"])  # two values where three are required
    with pytest.raises(CorruptFileError, match="ImagePositionPatient"):
        read_slice_header(path)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    return one_valid_file(tmp_path_factory.mktemp("fuzz")).read_bytes()


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the invalid values we made
@settings(max_examples=50, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(data=st.data())
def test_fuzzed_dicom_only_ever_raises_load_error(valid_bytes, tmp_path, data):
    raw = bytearray(valid_bytes)
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=12))
    for offset, value in edits:
        raw[offset] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    if cut is not None:
        raw = raw[:cut]
    path = tmp_path / "fuzzed.dcm"
    path.write_bytes(bytes(raw))
    try:
        vol = load_volume(path)
    except LoadError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(vol, Volume)
    assert vol.hu.dtype.name == "int16" and vol.hu.ndim == 3
