"""XML signatures on the CAP documents we publish (enveloped), so a city platform or a
community can tell our warnings from forged ones. CAP 1.2 allows an XML-DSig `Signature` as
the last child of `alert`. One signer for the hub's alerts and the command centre's warnings.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner

# Our own documents, but parsed as if they were not: no entities, no network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class CapSigner:
    """A PEM private key (RSA: rsa-sha256; EC: ecdsa-sha256), optionally encrypted, and its
    certificate, which goes into each signature."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, passphrase: bytes | None = None
                 ) -> None:
        key = load_pem_private_key(key_pem, passphrase)
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = "rsa-sha256"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            algorithm = "ecdsa-sha256"
        else:
            raise ValueError("the CAP signing key must be RSA or EC")
        self._key = key
        self._cert = cert_pem.decode("ascii")
        self._signer = XMLSigner(method=methods.enveloped, signature_algorithm=algorithm,
                                 digest_algorithm="sha256")

    @classmethod
    def from_files(cls, key_file: Path, cert_file: Path, passphrase: bytes | None = None
                   ) -> CapSigner:
        return cls(key_file.read_bytes(), cert_file.read_bytes(), passphrase)

    def sign(self, document: bytes) -> bytes:
        """The document with an enveloped XML signature as the alert's last child."""
        root = etree.fromstring(document, _PARSER)
        signed = self._signer.sign(root, key=self._key, cert=self._cert)
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))

    def __repr__(self) -> str:
        return "CapSigner(key=***)"
