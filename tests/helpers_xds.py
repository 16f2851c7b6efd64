"""Helpers shared by the XDS / XDM tests: the IHE and ebRS schemas loaded offline, the XOP
infoset of an MTOM request."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from lxml import etree

from tests.conftest import ref_file

#: The IHE ITI schemas in ../shared/ref.
SCHEMA = "dmp/ihe-iti/schema"
XML_XSD = f"{SCHEMA}/www.w3.org/2001/xml.xsd"
XOP = "http://www.w3.org/2004/08/xop/include"


class OfflineXml(etree.Resolver):
    """Maps the ``xml.xsd`` import of the IHE/ebRS schemas to the local copy."""

    def __init__(self, local: Path) -> None:
        super().__init__()
        self.local = local

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        if system_url == "http://www.w3.org/2001/xml.xsd":
            return self.resolve_filename(str(self.local), context)  # type: ignore[attr-defined]
        return None


def load_schema(ref_dir: Path, path: str) -> etree.XMLSchema:
    """The schema ``path`` (relative to the IHE ITI schema folder), loaded without network."""
    xml_xsd = ref_file(ref_dir, XML_XSD)
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(OfflineXml(xml_xsd))
    return etree.XMLSchema(etree.parse(str(ref_file(ref_dir, f"{SCHEMA}/{path}")), parser))


def reconstitute(element: etree._Element, payload: bytes = b"payload") -> etree._Element:
    """A copy with each xop:Include replaced by base64 ``payload`` (the XOP infoset the XSD
    describes)."""
    copy = etree.fromstring(etree.tostring(element))
    for include in copy.iter(f"{{{XOP}}}Include"):
        parent = include.getparent()
        assert parent is not None
        parent.remove(include)
        parent.text = base64.b64encode(payload).decode()
    return copy
