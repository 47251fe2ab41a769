"""XML signatures on the CAP documents we publish (enveloped, RSA-SHA256), so a city
platform can tell our warnings from forged ones. CAP 1.2 allows an XML-DSig `Signature` as the
last child of `alert`."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner


class CapSigner:
    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        self._key = key_pem
        self._cert = cert_pem.decode("ascii")
        self._signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256",
                                 digest_algorithm="sha256")

    @classmethod
    def from_files(cls, key_file: Path, cert_file: Path) -> CapSigner:
        return cls(key_file.read_bytes(), cert_file.read_bytes())

    def sign(self, document: bytes) -> bytes:
        root = etree.fromstring(document)
        signed = self._signer.sign(root, key=self._key, cert=self._cert)
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))

    def __repr__(self) -> str:
        return "CapSigner(key=***)"
