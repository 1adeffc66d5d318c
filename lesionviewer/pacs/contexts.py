"""Which DICOM storage classes and transfer syntaxes we offer when instances come to us.

A C-GET proposes one presentation context per (storage class, transfer syntax) pair for the image
classes we read, so that the PACS can send each instance in the syntax it is stored in
(JPEG 2000, JPEG-LS, RLE, JPEG lossless...) without transcoding; DICOM allows 128 contexts per
association. A storage SCP (the C-MOVE receiver, the AI node) accepts all of them.

Example:
    >>> len(get_contexts()) <= 128
    True
    >>> str(COMPRESSED_IMAGE_CLASSES[0])
    '1.2.840.10008.5.1.4.1.1.2'
"""
from __future__ import annotations

from pydicom import uid as _uid

#: Every transfer syntax pydicom (with the pylibjpeg/pyjpegls plugins) decodes.
TRANSFER_SYNTAXES = (
    _uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian, _uid.DeflatedExplicitVRLittleEndian,
    _uid.ExplicitVRBigEndian, _uid.JPEGBaseline8Bit, _uid.JPEGExtended12Bit, _uid.JPEGLossless,
    _uid.JPEGLosslessSV1, _uid.JPEGLSLossless, _uid.JPEGLSNearLossless, _uid.JPEG2000Lossless, _uid.JPEG2000,
    _uid.RLELossless,
)
_UNCOMPRESSED = (_uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian)

#: Image classes offered in every syntax (CT first: that is what we read).
COMPRESSED_IMAGE_CLASSES = (
    _uid.CTImageStorage, _uid.EnhancedCTImageStorage, _uid.MRImageStorage, _uid.SecondaryCaptureImageStorage,
)
#: Other classes a study often holds, offered uncompressed (an SR, a segmentation, PET...).
OTHER_CLASSES = (
    _uid.Comprehensive3DSRStorage, _uid.ComprehensiveSRStorage, _uid.EnhancedSRStorage, _uid.BasicTextSRStorage,
    _uid.SegmentationStorage, _uid.PositronEmissionTomographyImageStorage, _uid.EnhancedMRImageStorage,
    _uid.DigitalXRayImageStorageForPresentation, _uid.ComputedRadiographyImageStorage,
    _uid.GrayscaleSoftcopyPresentationStateStorage, _uid.KeyObjectSelectionDocumentStorage,
    _uid.RTStructureSetStorage, _uid.EncapsulatedPDFStorage, _uid.UltrasoundImageStorage,
)


def storage_pairs() -> list[tuple[str, tuple[str, ...]]]:
    """``(storage class, transfer syntaxes)`` for each context we propose, one syntax per context
    for the image classes.

    Example:
        >>> pairs = storage_pairs()
        >>> sum(1 for sop, _ in pairs if sop == _uid.CTImageStorage) == len(TRANSFER_SYNTAXES)
        True
    """
    pairs: list[tuple[str, tuple[str, ...]]] = []
    for sop in COMPRESSED_IMAGE_CLASSES:
        pairs.extend((sop, (ts,)) for ts in TRANSFER_SYNTAXES)
    pairs.extend((sop, _UNCOMPRESSED) for sop in OTHER_CLASSES)
    return pairs


def get_contexts():
    """Presentation contexts for a C-GET: the study-root GET model plus :func:`storage_pairs`.

    Example:
        >>> get_contexts()[0].abstract_syntax == _uid.UID("1.2.840.10008.5.1.4.1.2.2.3")
        True
    """
    from pynetdicom import build_context
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
    contexts += [build_context(sop, list(syntaxes)) for sop, syntaxes in storage_pairs()]
    return contexts


def scp_roles():
    """Role-selection items that let the PACS act as storage SCU towards us during a C-GET.

    Example:
        >>> len(scp_roles()) == len(COMPRESSED_IMAGE_CLASSES) + len(OTHER_CLASSES)
        True
    """
    from pynetdicom import build_role

    return [build_role(sop, scp_role=True) for sop in (*COMPRESSED_IMAGE_CLASSES, *OTHER_CLASSES)]


def add_storage_scp_contexts(ae) -> None:
    """Make ``ae`` (a pynetdicom ``AE``) accept every class and syntax above as a storage SCP.

    Example:
        >>> from pynetdicom import AE
        >>> ae = AE(); add_storage_scp_contexts(ae); len(ae.supported_contexts) > 10
        True
    """
    ae.add_supported_context("1.2.840.10008.1.1")  # Verification (C-ECHO)
    for sop in (*COMPRESSED_IMAGE_CLASSES, *OTHER_CLASSES):
        ae.add_supported_context(sop, list(TRANSFER_SYNTAXES))
