"""Consultation letters as ``DocumentReference`` with base64 attachments (plain text, and a small
one-page PDF written by hand: https://hl7.org/fhir/R4/documentreference.html, PDF 1.4 structure)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from hygie.demo.clinical import Chart, condition_info
from hygie.demo.common import LOINC, coding, concept, instant


def letter_text(c: Chart, when: datetime, gp_name: str) -> str:
    problems = [condition_info(k)["display_fr"] for k in c.conditions] or ["aucun antécédent notable"]
    drugs = sorted({d.lower() for d in c.drugs}) or ["aucun traitement au long cours"]
    return "\n".join(
        [
            f"Rennes, le {when.date().strftime('%d/%m/%Y')}",
            "",
            "Cher confrère, chère consœur,",
            "",
            f"J'ai vu en consultation {'Mme' if c.p.female else 'M.'} {c.p.given} {c.p.family.upper()}, "
            f"né{'e' if c.p.female else ''} le {c.p.birth.strftime('%d/%m/%Y')}.",
            f"Antécédents : {', '.join(problems)}.",
            f"Traitement en cours : {', '.join(drugs)}.",
            "L'examen clinique est sans particularité ce jour. Je vous remercie de le/la revoir "
            "pour le suivi habituel.",
            "",
            "Bien confraternellement,",
            gp_name,
            "",
            "(Document de démonstration — patient fictif, données synthétiques Hygie.)",
        ]
    )


def _escape(line: str) -> bytes:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252", "replace")


def tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF showing ``text`` (Helvetica, WinAnsiEncoding)."""
    stream = (
        b"BT /F1 11 Tf 56 780 Td 14 TL\n"
        + b"".join(b"(" + _escape(line) + b") '\n" for line in text.splitlines())
        + b"ET\n"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def consultation_letter(c: Chart, encounter_ref: str, when: datetime, gp_name: str, *, pdf: bool) -> str:
    text = letter_text(c, when, gp_name)
    content: list[dict[str, Any]] = [
        {
            "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "language": "fr-FR",
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                "title": "Courrier de consultation",
                "creation": instant(when),
            }
        }
    ]
    if pdf:
        content.append(
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "fr-FR",
                    "data": base64.b64encode(tiny_pdf(text)).decode("ascii"),
                    "title": "Courrier de consultation (PDF)",
                    "creation": instant(when),
                }
            }
        )
    return c.b.post(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": concept(coding(LOINC, "11488-4", "Consult note"), text="Courrier de consultation"),
            "subject": {"reference": c.p.ref},
            "date": instant(when),
            "author": [{"reference": f"Practitioner/{c.gp}"}],
            "description": "Courrier de consultation de médecine générale",
            "content": content,
            "context": {"encounter": [{"reference": encounter_ref}]},
        }
    )
