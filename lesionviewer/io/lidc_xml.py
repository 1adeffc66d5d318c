"""The LIDC-IDRI reader XML (``LidcReadMessage``): every radiologist's lung nodule marks on one CT series.

Structure read here (XML namespaces are ignored, so files with or without ``xmlns="http://www.nih.gov"``
read the same):

* one ``readingSession`` per radiologist (a *reader*; ``servicingRadiologistID`` names it);
* in it, one ``unblindedReadNodule`` per nodule that reader marked, with a ``noduleID`` and one ``roi``
  per slice: ``imageZposition`` (the slice's patient z in mm, as in its ImagePositionPatient),
  ``imageSOP_UID``, ``inclusion`` (TRUE: the outline of the nodule; FALSE: a hole cut out of it) and
  the ``edgeMap`` points (``xCoord`` = column, ``yCoord`` = row, zero-based pixel indices);
* a nodule >= 3 mm is outlined on every slice it covers; a nodule < 3 mm is marked by a single
  point (its centre) on one slice;
* ``nonNodule`` marks (other findings) are not nodules and are skipped.

Grouping the readers' marks into lesions needs the volume's geometry; that is
:mod:`lesionviewer.evaluation.lidc_lesions`.

Example:
    >>> import tempfile, pathlib
    >>> xml = '''<LidcReadMessage xmlns="http://www.nih.gov"><readingSession>
    ...   <servicingRadiologistID>r1</servicingRadiologistID>
    ...   <unblindedReadNodule><noduleID>n1</noduleID><roi><imageZposition>-10.5</imageZposition>
    ...     <imageSOP_UID>1.2.3</imageSOP_UID><inclusion>TRUE</inclusion>
    ...     <edgeMap><xCoord>5</xCoord><yCoord>7</yCoord></edgeMap></roi></unblindedReadNodule>
    ... </readingSession></LidcReadMessage>'''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "read.xml"
    >>> _ = path.write_text(xml)
    >>> read = read_lidc_xml(path)
    >>> read.num_readers, read.nodules[0].nodule_id, read.nodules[0].is_point, read.nodules[0].rois[0].points
    (1, 'n1', True, ((5, 7),))
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from lesionviewer.io.errors import CorruptFileError, EmptyInputError, LoadError


class LidcXmlError(CorruptFileError):
    """An LIDC reader XML file is missing, malformed or not a ``LidcReadMessage``; the message names the file.

    Example:
        >>> str(LidcXmlError("071.xml", "roi 3 of nodule 'n1' has no imageZposition"))
        "071.xml: roi 3 of nodule 'n1' has no imageZposition"
    """


@dataclass(frozen=True)
class LidcRoi:
    """One reader's outline (or single point) of one nodule on one slice.

    ``points`` are ``(x, y)`` = (column, row) zero-based pixel indices of the slice; ``inclusion`` is
    False for an exclusion (a hole inside the nodule's outline).

    Example:
        >>> roi = LidcRoi(z_mm=-87.0, sop_uid="1.2", inclusion=True, points=((3, 4), (9, 6)))
        >>> roi.bounds
        (3, 4, 9, 6)
    """

    z_mm: float
    sop_uid: str
    inclusion: bool
    points: tuple[tuple[int, int], ...]

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Smallest and largest pixel index of the points: ``(x_min, y_min, x_max, y_max)``, inclusive.

        Example:
            >>> LidcRoi(0.0, "", True, ((7, 2),)).bounds
            (7, 2, 7, 2)
        """
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class LidcNoduleMark:
    """One reader's mark of one nodule: the reader (index of its ``readingSession``), ids and its ROIs.

    Example:
        >>> mark = LidcNoduleMark(0, "r1", "n1", (LidcRoi(-1.0, "", True, ((1, 1), (4, 1))),))
        >>> mark.is_point, [r.z_mm for r in mark.included_rois]
        (False, [-1.0])
    """

    reader: int
    reader_id: str
    nodule_id: str
    rois: tuple[LidcRoi, ...]

    @property
    def included_rois(self) -> tuple[LidcRoi, ...]:
        """The outlines (``inclusion`` TRUE), without the exclusions.

        Example:
            >>> m = LidcNoduleMark(0, "", "n", (LidcRoi(0.0, "", True, ((1, 1),)), LidcRoi(0.0, "", False, ((1, 1),))))
            >>> len(m.included_rois)
            1
        """
        return tuple(r for r in self.rois if r.inclusion)

    @property
    def is_point(self) -> bool:
        """True for a nodule the reader marked < 3 mm: one included ROI of a single point.

        Example:
            >>> LidcNoduleMark(0, "", "n", (LidcRoi(0.0, "", True, ((1, 1),)),)).is_point
            True
        """
        included = self.included_rois
        return len(included) == 1 and len(set(included[0].points)) == 1


@dataclass(frozen=True)
class LidcRead:
    """A whole LidcReadMessage: the series it belongs to, the number of readers, and every nodule mark.

    ``num_readers`` counts the ``readingSession`` elements (a reader who marked no nodule counts too).

    Example:
        >>> LidcRead("a.xml", "1.2.3", "", 4, ()).num_readers
        4
    """

    path: str
    series_uid: str
    study_uid: str
    num_readers: int
    nodules: tuple[LidcNoduleMark, ...]


def read_lidc_xml(path: str | Path) -> LidcRead:
    """Read an LIDC reader XML file into a :class:`LidcRead` (``nonNodule`` marks are skipped).

    Raises :class:`LidcXmlError` (a ``LoadError`` naming the file) when the file is missing, is not
    well-formed XML, is not a ``LidcReadMessage``, or has an ROI without a z position or points, or a
    coordinate that is not a whole number.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.xml"
        >>> _ = path.write_text("<html/>")
        >>> read_lidc_xml(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.lidc_xml.LidcXmlError: ...x.xml: not an LIDC reader XML (the root element is <html>, not <LidcReadMessage>)
    """
    path = Path(path)
    if not path.is_file():
        raise LidcXmlError(path, "no such file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise LidcXmlError(path, f"not well-formed XML ({exc})") from None
    except OSError as exc:
        raise LidcXmlError(path, f"could not be read ({exc.strerror or exc})") from None
    if _name(root) != "LidcReadMessage":
        raise LidcXmlError(path, f"not an LIDC reader XML (the root element is <{_name(root)}>, not <LidcReadMessage>)")
    header = _child(root, "ResponseHeader")
    series_uid = study_uid = ""
    if header is not None:
        series_uid = _text(header, "SeriesInstanceUid") or _text(header, "SeriesInstanceUID")
        study_uid = _text(header, "StudyInstanceUID") or _text(header, "StudyInstanceUid")
    sessions = [e for e in root if _name(e) == "readingSession"]
    marks: list[LidcNoduleMark] = []
    for reader, session in enumerate(sessions):
        reader_id = _text(session, "servicingRadiologistID")
        for number, nodule in enumerate(e for e in session if _name(e) == "unblindedReadNodule"):
            nodule_id = _text(nodule, "noduleID") or f"reader {reader + 1} nodule {number + 1}"
            rois = tuple(_roi(path, nodule_id, i, roi) for i, roi in enumerate(e for e in nodule if _name(e) == "roi"))
            if rois:
                marks.append(LidcNoduleMark(reader, reader_id, nodule_id, rois))
    return LidcRead(str(path), series_uid, study_uid, len(sessions), tuple(marks))


def find_lidc_xml(folder: str | Path) -> list[Path]:
    """The LIDC reader XML files (root ``LidcReadMessage``) directly in ``folder``, sorted by name.

    Other XML files are skipped. Raises ``EmptyInputError`` when there is none, naming the folder.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.xml").write_text('<LidcReadMessage xmlns="http://www.nih.gov"/>')
        >>> _ = (folder / "b.xml").write_text("<other/>")
        >>> [p.name for p in find_lidc_xml(folder)]
        ['a.xml']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(folder, "no such folder")
    found = []
    for candidate in sorted(folder.glob("*.xml")):
        try:
            for _, element in ET.iterparse(candidate, events=("start",)):
                if _name(element) == "LidcReadMessage":
                    found.append(candidate)
                break
        except (ET.ParseError, OSError):
            continue
    if not found:
        raise EmptyInputError(folder, "no LIDC reader XML (a *.xml file with a <LidcReadMessage> root) in this folder")
    return found


def _roi(path: Path, nodule_id: str, index: int, roi: ET.Element) -> LidcRoi:
    where = f"roi {index + 1} of nodule {nodule_id!r}"
    z_text = _text(roi, "imageZposition")
    try:
        z_mm = float(z_text)
    except ValueError:
        raise LidcXmlError(path, f"{where} has no usable imageZposition ({z_text!r})") from None
    inclusion_text = _text(roi, "inclusion").upper()
    if inclusion_text not in ("", "TRUE", "FALSE"):
        raise LidcXmlError(path, f"{where}: inclusion must be TRUE or FALSE, not {inclusion_text!r}")
    points = []
    for edge in (e for e in roi if _name(e) == "edgeMap"):
        x_text, y_text = _text(edge, "xCoord"), _text(edge, "yCoord")
        try:
            points.append((int(x_text), int(y_text)))
        except ValueError:
            raise LidcXmlError(path, f"{where}: edgeMap point ({x_text!r}, {y_text!r}) is not a pair of pixel indices") from None
    if not points:
        raise LidcXmlError(path, f"{where} has no edgeMap point")
    if any(x < 0 or y < 0 for x, y in points):
        raise LidcXmlError(path, f"{where} has a negative pixel index")
    return LidcRoi(z_mm, _text(roi, "imageSOP_UID"), inclusion_text != "FALSE", tuple(points))


def _name(element: ET.Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in element if _name(e) == name), None)


def _text(element: ET.Element, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


__all__ = ["LidcNoduleMark", "LidcRead", "LidcRoi", "LidcXmlError", "find_lidc_xml", "read_lidc_xml"]
