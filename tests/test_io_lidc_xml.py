"""The LIDC reader XML: generated files (namespaced or not, bad input) and the real LIDC-IDRI-0002 read."""
from __future__ import annotations

import pytest

from lesionviewer.io.errors import EmptyInputError, LoadError
from lesionviewer.io.lidc_xml import LidcXmlError, find_lidc_xml, read_lidc_xml


def roi(z, points, inclusion="TRUE", uid="1.2.3"):
    edges = "".join(f"<edgeMap><xCoord>{x}</xCoord><yCoord>{y}</yCoord></edgeMap>" for x, y in points)
    return (f"<roi><imageZposition>{z} </imageZposition><imageSOP_UID>{uid}</imageSOP_UID>"
            f"<inclusion>{inclusion}</inclusion>{edges}</roi>")


def message(*sessions, namespace=True):
    ns = ' xmlns="http://www.nih.gov"' if namespace else ""
    header = "<ResponseHeader><SeriesInstanceUid>9.8.7</SeriesInstanceUid></ResponseHeader>"
    return f'<?xml version="1.0"?><LidcReadMessage{ns}>{header}{"".join(sessions)}</LidcReadMessage>'


def session(reader_id, *nodules, non_nodule=False):
    body = "".join(f"<unblindedReadNodule><noduleID>{nid}</noduleID>{''.join(rois)}</unblindedReadNodule>"
                   for nid, rois in nodules)
    if non_nodule:
        body += "<nonNodule><nonNoduleID>x</nonNoduleID><imageZposition>1</imageZposition>" \
                "<locus><xCoord>1</xCoord><yCoord>1</yCoord></locus></nonNodule>"
    return f"<readingSession><servicingRadiologistID>{reader_id}</servicingRadiologistID>{body}</readingSession>"


@pytest.mark.parametrize("namespace", [True, False])
def test_reads_readers_nodules_rois_and_skips_non_nodules(tmp_path, namespace):
    outline = [(10, 20), (14, 20), (14, 26), (10, 26)]
    text = message(
        session("r1", ("big", [roi(-10.0, outline), roi(-11.25, outline[:2]), roi(-10.0, [(12, 22)], "FALSE")]),
                ("small", [roi(-50.5, [(7, 8)])]), non_nodule=True),
        session("r2", non_nodule=True),
        namespace=namespace)
    path = tmp_path / "read.xml"
    path.write_text(text)
    read = read_lidc_xml(path)
    assert read.num_readers == 2 and read.series_uid == "9.8.7" and read.path == str(path)
    big, small = read.nodules
    assert (big.reader, big.reader_id, big.nodule_id) == (0, "r1", "big")
    assert [r.z_mm for r in big.rois] == [-10.0, -11.25, -10.0]
    assert [r.inclusion for r in big.rois] == [True, True, False]
    assert big.rois[0].points == tuple(outline) and big.rois[0].bounds == (10, 20, 14, 26)
    assert len(big.included_rois) == 2 and not big.is_point
    assert small.is_point and small.rois[0].points == ((7, 8),)


@pytest.mark.parametrize("text, reason", [
    ("<LidcReadMessage><readingSession>", "not well-formed XML"),
    ("<IdriReadMessage/>", "root element is <IdriReadMessage>"),
    (message(session("r", ("n", ["<roi><inclusion>TRUE</inclusion><edgeMap><xCoord>1</xCoord><yCoord>1</yCoord>"
                                 "</edgeMap></roi>"]))), "has no usable imageZposition"),
    (message(session("r", ("n", [roi(1.0, [])]))), "has no edgeMap point"),
    (message(session("r", ("n", [roi(1.0, [("1.5", 2)])]))), "is not a pair of pixel indices"),
    (message(session("r", ("n", [roi(1.0, [(1, 2)], inclusion="MAYBE")]))), "inclusion must be TRUE or FALSE"),
])
def test_bad_files_raise_a_typed_error_naming_the_file(tmp_path, text, reason):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(LidcXmlError, match=reason) as info:
        read_lidc_xml(path)
    assert isinstance(info.value, LoadError) and info.value.path == str(path)


def test_missing_file_and_folder_without_xml(tmp_path):
    with pytest.raises(LidcXmlError, match="no such file"):
        read_lidc_xml(tmp_path / "none.xml")
    (tmp_path / "other.xml").write_text("<config/>")
    (tmp_path / "broken.xml").write_text("<")
    with pytest.raises(EmptyInputError, match="no LIDC reader XML"):
        find_lidc_xml(tmp_path)
    (tmp_path / "071.xml").write_text(message(session("r")))
    assert find_lidc_xml(tmp_path) == [tmp_path / "071.xml"]


@pytest.fixture(scope="module")
def real_read(shared_data):
    return read_lidc_xml(shared_data / "lidc_idri_0002" / "071.xml")


def test_real_lidc_xml_four_readers_and_their_marks(real_read):
    assert real_read.num_readers == 4
    assert real_read.series_uid == "1.3.6.1.4.1.14519.5.2.1.6279.6001.619372068417051974713149104919"
    per_reader = [sum(m.reader == r for m in real_read.nodules) for r in range(4)]
    assert per_reader == [7, 1, 12, 8]  # counted in 071.xml by grep, nonNodule marks left out
    outlined = [m for m in real_read.nodules if not m.is_point]
    assert [(m.reader, m.nodule_id, len(m.rois)) for m in outlined] == [(2, "MI014_11691", 30), (3, "8", 23)]
    # reader 3's first outline (071.xml line 333 on): z -87.0, 27 points spanning x 333-345, y 356-363
    first = outlined[0].rois[0]
    assert first.z_mm == -87.0 and len(first.points) == 27 and first.bounds == (333, 356, 345, 363)
    assert sum(not r.inclusion for m in real_read.nodules for r in m.rois) == 2
