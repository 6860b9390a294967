"""The words of the human-readable summary of a portability export, in French and English."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "title_patient": {"fr": "Dossier de santé — {name}", "en": "Health record — {name}"},
    "title_practice": {"fr": "Export du cabinet — {name}", "en": "Practice export — {name}"},
    "exported": {"fr": "Exporté le {date} par Hygie.", "en": "Exported on {date} by Hygie."},
    "about": {"fr": "Contenu de ce fichier", "en": "What is in this file"},
    "about_patient": {
        "fr": "Ce fichier ZIP contient votre dossier complet : les données au format FHIR R4 "
        "(dossier fhir/, un fichier NDJSON par type de ressource, lisible par tout logiciel "
        "compatible FHIR), vos documents (dossier documents/), ce résumé (summary/summary.html "
        "et summary/summary.pdf) et un manifeste (manifest.json) avec l'empreinte SHA-256 de "
        "chaque fichier. Il peut être importé tel quel dans un autre serveur Hygie "
        "(commande « hygie import »), qui reproduit le dossier à l'identique.",
        "en": "This ZIP file holds your complete record: the data in FHIR R4 format (folder fhir/, "
        "one NDJSON file per resource type, readable by any FHIR-capable software), your documents "
        "(folder documents/), this summary (summary/summary.html and summary/summary.pdf) and a "
        "manifest (manifest.json) with the SHA-256 digest of every file. It can be imported as is "
        "into another Hygie server (the `hygie import` command), which reproduces the record exactly.",
    },
    "about_practice": {
        "fr": "Ce fichier ZIP contient les dossiers de tous les patients du cabinet, pour un "
        "changement de logiciel : les données au format FHIR R4 (dossier fhir/, un fichier NDJSON "
        "par type de ressource), les documents (dossier documents/), ce résumé et un manifeste "
        "(manifest.json) avec l'empreinte SHA-256 de chaque fichier.",
        "en": "This ZIP file holds the records of every patient of the practice, for a change of "
        "software: the data in FHIR R4 format (folder fhir/, one NDJSON file per resource type), "
        "the documents (folder documents/), this summary and a manifest (manifest.json) with the "
        "SHA-256 digest of every file.",
    },
    "identity": {"fr": "Identité", "en": "Identity"},
    "name": {"fr": "Nom", "en": "Name"},
    "birth_date": {"fr": "Date de naissance", "en": "Date of birth"},
    "gender": {"fr": "Sexe", "en": "Gender"},
    "identifiers": {"fr": "Identifiants", "en": "Identifiers"},
    "address": {"fr": "Adresse", "en": "Address"},
    "telecom": {"fr": "Contact", "en": "Contact"},
    "problems": {"fr": "Problèmes de santé", "en": "Problems"},
    "treatments": {"fr": "Traitements", "en": "Treatments"},
    "allergies": {"fr": "Allergies et intolérances", "en": "Allergies and intolerances"},
    "vaccinations": {"fr": "Vaccinations", "en": "Vaccinations"},
    "results": {"fr": "Résultats et constantes récents", "en": "Recent results and vital signs"},
    "documents": {"fr": "Documents", "en": "Documents"},
    "contents": {"fr": "Données exportées", "en": "Exported data"},
    "patients": {"fr": "Patients", "en": "Patients"},
    "what": {"fr": "Libellé", "en": "Description"},
    "status": {"fr": "Statut", "en": "Status"},
    "date": {"fr": "Date", "en": "Date"},
    "since": {"fr": "Depuis", "en": "Since"},
    "dosage": {"fr": "Posologie", "en": "Dosage"},
    "criticality": {"fr": "Gravité", "en": "Criticality"},
    "reaction": {"fr": "Réaction", "en": "Reaction"},
    "value": {"fr": "Valeur", "en": "Value"},
    "title": {"fr": "Titre", "en": "Title"},
    "file": {"fr": "Fichier", "en": "File"},
    "type": {"fr": "Type", "en": "Type"},
    "resource_type": {"fr": "Type de ressource", "en": "Resource type"},
    "count": {"fr": "Nombre", "en": "Count"},
    "resources": {"fr": "Ressources", "en": "Resources"},
    "id": {"fr": "Identifiant", "en": "Id"},
    "none": {"fr": "Aucun élément enregistré.", "en": "Nothing recorded."},
    "more_results": {
        "fr": "Seules les {shown} mesures les plus récentes (une par examen) sont montrées ; "
        "toutes sont dans fhir/Observation.ndjson.",
        "en": "Only the {shown} most recent measurements (one per test) are shown; "
        "all of them are in fhir/Observation.ndjson.",
    },
    "patients_note": {"fr": "{count} patient(s) exporté(s).", "en": "{count} patient(s) exported."},
    "male": {"fr": "masculin", "en": "male"},
    "female": {"fr": "féminin", "en": "female"},
    "other": {"fr": "autre", "en": "other"},
    "unknown": {"fr": "inconnu", "en": "unknown"},
}


def label(key: str, lang: str, **params: object) -> str:
    """The text of ``key`` in ``lang`` (French when ``lang`` is neither fr nor en)."""
    texts = LABELS[key]
    text = texts.get(lang) or texts["fr"]
    return text.format(**params) if params else text
