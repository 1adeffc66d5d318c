"""The PACS client against a real Orthanc on loopback: DIMSE (C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE),
DICOMweb (QIDO-RS, WADO-RS, STOW-RS), the cache, and the typed errors."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pydicom
import pytest

from lesionviewer.io import load_volume
from lesionviewer.pacs import (AssociationRejectedError, AuthenticationError, ConnectionLostError, NotFoundError,
                               PacsCache, PacsConnectionError, PacsServer, StudyQuery, TransferCancelledError,
                               connect)
from lesionviewer.pacs.connect import retrieve_series
from lesionviewer.pacs.orthanc import OrthancProcess, find_orthanc, free_port

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LIDC_SERIES = "1.3.6.1.4.1.14519.5.2.1.6279.6001.619372068417051974713149104919"


def compressed_singles(shared_data: Path) -> list[Path]:
    # 693_UNCR.dcm is 693_J2KR.dcm decompressed, with the same SOP Instance UID: keep the compressed one.
    return [p for p in sorted((shared_data / "ct_compressed_singles").glob("*.dcm")) if p.name != "693_UNCR.dcm"]


def shared_orthanc(request, tmp_path_factory) -> OrthancProcess:
    """One Orthanc per test session (kept on the pytest config so every PACS test module shares it),
    loaded with the real LIDC series and the compressed single slices where ../shared/data is present
    (the tests that need them ask for the shared_data fixture, which skips without it)."""
    found = getattr(request.config, "_lesionviewer_orthanc", None)
    if found is not None:
        return found
    if find_orthanc() is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)")
    orthanc = OrthancProcess(tmp_path_factory.mktemp("orthanc")).start()
    request.config.add_cleanup(orthanc.stop)
    request.config._lesionviewer_orthanc = orthanc
    if SHARED_DATA.is_dir():
        orthanc.upload(sorted((SHARED_DATA / "lidc_idri_0002").glob("*.dcm")))
        orthanc.upload(compressed_singles(SHARED_DATA))
    return orthanc


@pytest.fixture(scope="session")
def orthanc(request, tmp_path_factory) -> OrthancProcess:
    return shared_orthanc(request, tmp_path_factory)


def dimse_server(o: OrthancProcess, **kw) -> PacsServer:
    return PacsServer("orthanc-dimse", kind="dimse", ae_title=o.aet, host="127.0.0.1", port=o.dicom_port,
                      timeout_s=10, **kw)


def web_server(o: OrthancProcess) -> PacsServer:
    return PacsServer("orthanc-web", url=o.dicomweb_url, auth="basic", username=o.user, timeout_s=10)


def digest(path: Path) -> str:
    ds = pydicom.dcmread(path)
    return hashlib.sha256(ds.PixelData).hexdigest() + ds.file_meta.TransferSyntaxUID


def test_dimse_echo_find_get_and_move_the_real_series(orthanc, shared_data, tmp_path):
    client = connect(dimse_server(orthanc))
    assert client.echo() < 5
    studies = client.find_studies(StudyQuery(patient_id="LIDC*", date_from="19990101", modality="CT"))
    assert [s.patient_id for s in studies] == ["LIDC-IDRI-0002"]
    (series,) = client.find_series(studies[0].study_uid)
    assert (series.series_uid, series.instances, series.modality) == (LIDC_SERIES, 261, "CT")

    cache = PacsCache(tmp_path / "cache")
    seen = []
    folder = retrieve_series(client, series.study_uid, series.series_uid, cache, expected=261,
                             progress=lambda done, total: seen.append(done))
    assert folder == cache.get(LIDC_SERIES) and len(list(folder.glob("*.dcm"))) == 261
    assert seen[-1] == 261 and (cache.root.stat().st_mode & 0o777) == 0o700
    assert load_volume(folder).shape == (261, 512, 512)
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
                 for p in sorted((shared_data / "lidc_idri_0002").glob("*.dcm"))[::40]}
    for sop, original in originals.items():  # byte for byte (after the preamble)
        assert (folder / f"{sop}.dcm").read_bytes()[132:] .endswith(original.read_bytes()[-100000:])

    cache.purge()
    port = free_port()
    orthanc.add_modality("lvmove", "LVMOVE", "127.0.0.1", port)
    moved = retrieve_series(client, series.study_uid, series.series_uid, cache, move_destination=("LVMOVE", port))
    assert len(list(moved.glob("*.dcm"))) == 261 and cache.info(LIDC_SERIES)["method"] == "C-MOVE"


def decoded(path: Path) -> str:
    return hashlib.sha256(pydicom.dcmread(path).pixel_array.tobytes()).hexdigest()


def test_compressed_syntaxes_by_cget_and_wado(orthanc, shared_data, tmp_path):
    # WADO-RS (transfer-syntax=*) returns each instance byte for byte in its stored syntax; over C-GET,
    # Orthanc sends in the first syntax we accept for the class (explicit VR little endian), so the
    # check there is that the decoded pixels are those of the original.
    dimse, web = connect(dimse_server(orthanc)), connect(web_server(orthanc), orthanc.password)
    cache = PacsCache(tmp_path / "cache")
    syntaxes = set()
    for path in compressed_singles(shared_data):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        syntaxes.add(header.file_meta.TransferSyntaxUID)
        folder = retrieve_series(web, header.StudyInstanceUID, header.SeriesInstanceUID, cache)
        (got,) = folder.glob("*.dcm")
        assert digest(got) == digest(path), path.name
        folder = retrieve_series(dimse, header.StudyInstanceUID, header.SeriesInstanceUID, cache)
        (got,) = folder.glob("*.dcm")
        assert decoded(got) == decoded(path), path.name
    assert {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.81"} <= syntaxes


def test_dicomweb_qido_wado_and_stow(orthanc, shared_data, tmp_path):
    client = connect(web_server(orthanc), orthanc.password)
    (study,) = client.find_studies(StudyQuery(patient_id="LIDC-IDRI-0002"))
    assert study.instances == 261 and study.accession
    (series,) = client.find_series(study.study_uid, modality="CT")
    cache = PacsCache(tmp_path / "cache")
    folder = client.retrieve_series(study.study_uid, series.series_uid, cache, expected=series.instances)
    assert len(list(folder.glob("*.dcm"))) == 261
    assert load_volume(folder).shape == (261, 512, 512)

    # STOW-RS: a copy of three slices under new UIDs, then found with QIDO-RS
    out = []
    for i, path in enumerate(sorted(folder.glob("*.dcm"))[:3]):
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "STOW-TEST", "1.2.826.0.1.3680043.10.999.1", \
            "1.2.826.0.1.3680043.10.999.1.1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.999.1.1.{i}"
        ds.save_as(tmp_path / f"{i}.dcm")
        out.append(tmp_path / f"{i}.dcm")
    assert client.store(out) == 3
    (stowed,) = client.find_studies(StudyQuery(patient_id="STOW-TEST"))
    assert stowed.instances == 3


def test_cstore_then_found(orthanc, shared_data, tmp_path):
    src = shared_data / "ct_compressed_singles" / "693_UNCR.dcm"
    ds = pydicom.dcmread(src)
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "CSTORE-TEST", "1.2.826.0.1.3680043.10.999.2", \
        "1.2.826.0.1.3680043.10.999.2.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.2.1.1"
    ds.save_as(tmp_path / "one.dcm")
    client = connect(dimse_server(orthanc))
    assert client.store([tmp_path / "one.dcm"]) == 1
    (study,) = client.find_studies(StudyQuery(patient_id="CSTORE-TEST"))
    assert study.study_uid == "1.2.826.0.1.3680043.10.999.2"


def test_typed_errors_refused_auth_notfound_cancel_unreachable(orthanc, shared_data, tmp_path):
    cache = PacsCache(tmp_path / "cache")
    with pytest.raises(AssociationRejectedError):
        connect(dimse_server(orthanc).__class__(**{**dimse_server(orthanc).to_dict(), "ae_title": "WRONG"})).echo()
    with pytest.raises(PacsConnectionError):
        connect(PacsServer("gone", kind="dimse", ae_title="X", host="127.0.0.1", port=free_port(), timeout_s=2)).echo()
    with pytest.raises(AuthenticationError):
        connect(web_server(orthanc), "not-the-password").find_studies()
    web = connect(web_server(orthanc), orthanc.password)
    with pytest.raises(NotFoundError):
        web.retrieve_series("1.2.3", "1.2.3.4", cache)
    with pytest.raises(NotFoundError):
        connect(dimse_server(orthanc)).get_series("1.2.3", "1.2.3.4", cache)
    (study,) = web.find_studies(StudyQuery(patient_id="LIDC-IDRI-0002"))
    for client in (web, connect(dimse_server(orthanc))):
        stop = threading.Event()
        with pytest.raises(TransferCancelledError):
            retrieve_series(client, study.study_uid, LIDC_SERIES, cache,
                            progress=lambda done, total: done >= 20 and stop.set(), cancel=stop)
        assert cache.get(LIDC_SERIES) is None and not any((cache.root / ".partial").iterdir())


def test_a_server_that_never_answers_is_a_timeout(tmp_path):
    import socket

    from lesionviewer.pacs import PacsTimeoutError

    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(PacsTimeoutError):
            connect(PacsServer("mute", kind="dimse", ae_title="X", host="127.0.0.1", port=port, timeout_s=1)).echo()
        with pytest.raises(PacsTimeoutError):
            connect(PacsServer("mute", url=f"http://127.0.0.1:{port}/dicom-web", timeout_s=1)).find_studies()


def test_server_gone_mid_transfer_leaves_nothing_in_the_cache(shared_data, tmp_path):
    if find_orthanc() is None:
        pytest.skip("Orthanc is not installed")
    files = sorted((shared_data / "lidc_idri_0002").glob("*.dcm"))[:60]
    for kind in ("dimse", "dicomweb"):
        with OrthancProcess(tmp_path / f"orthanc-{kind}") as victim:
            victim.upload(files)
            server = dimse_server(victim) if kind == "dimse" else web_server(victim)
            client = connect(server, victim.password)
            (study,) = client.find_studies()
            cache = PacsCache(tmp_path / f"cache-{kind}")
            with pytest.raises(ConnectionLostError):
                retrieve_series(client, study.study_uid, LIDC_SERIES, cache, expected=60,
                                progress=lambda done, total: done == 10 and victim.kill())
            assert cache.get(LIDC_SERIES) is None and not any((cache.root / ".partial").iterdir())
