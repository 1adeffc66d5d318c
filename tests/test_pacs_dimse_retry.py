"""The DIMSE client's association: one more try when a request ends at once without any answer.

No network here: the client's pynetdicom AE is replaced by a fake whose ``associate`` hands out the
associations listed, so each test states exactly what the peer did.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from lesionviewer.pacs import AssociationRejectedError, PacsConnectionError, PacsServer
from lesionviewer.pacs.dimse import DimseClient

ECHO = ["1.2.840.10008.1.1"]


def outcome(established=False, rejected=False):
    return SimpleNamespace(is_established=established, is_rejected=rejected, release=lambda: None)


class FakeAE:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.requests = 0

    def associate(self, *args, **kwargs):
        self.requests += 1
        return self.outcomes.pop(0)

    def shutdown(self):
        pass


def client_with(monkeypatch, outcomes):
    ae = FakeAE(outcomes)
    client = DimseClient(PacsServer("p", kind="dimse", ae_title="PACS", host="127.0.0.1", port=104, timeout_s=10))
    monkeypatch.setattr(client, "_ae", lambda: ae)
    return client, ae


def test_a_request_that_ends_without_an_answer_is_tried_once_more_and_a_refusal_then_counts(monkeypatch):
    client, ae = client_with(monkeypatch, [outcome(), outcome(rejected=True)])
    with pytest.raises(AssociationRejectedError):
        with client._association(ECHO):
            pass
    assert ae.requests == 2


def test_an_association_on_the_second_try_is_used(monkeypatch):
    client, ae = client_with(monkeypatch, [outcome(), outcome(established=True)])
    with client._association(ECHO) as assoc:
        assert assoc.is_established
    assert ae.requests == 2


def test_two_requests_without_answer_are_a_connection_error(monkeypatch):
    client, ae = client_with(monkeypatch, [outcome(), outcome()])
    with pytest.raises(PacsConnectionError, match="no DICOM association"):
        with client._association(ECHO):
            pass
    assert ae.requests == 2


def test_a_refusal_or_an_association_at_the_first_try_is_not_asked_again(monkeypatch):
    client, ae = client_with(monkeypatch, [outcome(rejected=True)])
    with pytest.raises(AssociationRejectedError):
        with client._association(ECHO):
            pass
    assert ae.requests == 1
    client, ae = client_with(monkeypatch, [outcome(established=True)])
    with client._association(ECHO):
        pass
    assert ae.requests == 1
