"""KML 2.2 documents for the HQ bundle: one style per grade, polygons in folders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from survey.core.damage import DamageClass

KML_COLOURS: dict[DamageClass, str] = {  # aabbggrr
    DamageClass.INTACT: "ff3c9b2e", DamageClass.MINOR: "ff00d7ff",
    DamageClass.MAJOR: "ff0080ff", DamageClass.DESTROYED: "ff1e1ed7",
}
"""Line colour per grade."""
NOT_SEEN_COLOUR = "ff9e9e9e"
"""Line colour of footprints no photo covered."""


def kml_document(title: str, colours: Mapping[str, str]) -> tuple[ET.Element, ET.Element]:
    """A ``<kml>`` root and its ``<Document>`` named ``title``, with a style per name
    (line and 50 %-transparent fill in the KML colour ``aabbggrr``)."""
    kml = ET.Element("kml", xmlns="http://www.opengis.net/kml/2.2")
    doc = ET.SubElement(kml, "Document")
    ET.SubElement(doc, "name").text = title
    for label, colour in colours.items():
        style = ET.SubElement(doc, "Style", id=label)
        line = ET.SubElement(style, "LineStyle")
        ET.SubElement(line, "color").text = colour
        ET.SubElement(line, "width").text = "2"
        ET.SubElement(ET.SubElement(style, "PolyStyle"), "color").text = "80" + colour[2:]
    return kml, doc


def kml_text(kml: ET.Element) -> str:
    """The document as UTF-8 XML text with its declaration."""
    ET.indent(kml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(kml, encoding="unicode")
