"""Bilingual diagnostics of the FHIR R4 resource validator (:mod:`hygie.fhir.validation`).

Spec: https://hl7.org/fhir/R4/validation.html (the checks), https://hl7.org/fhir/R4/operationoutcome.html
(each message is the ``diagnostics`` of one issue).
"""

from __future__ import annotations

from hygie.fhir.messages import register

register(
    {
        "validation.resource_not_object": {
            "fr": "Une ressource doit être un objet JSON.",
            "en": "A resource must be a JSON object.",
        },
        "validation.resource_type_missing": {
            "fr": "La propriété resourceType est absente.",
            "en": "The resourceType property is missing.",
        },
        "validation.resource_type_unknown": {
            "fr": "Type de ressource inconnu : {type}.",
            "en": "Unknown resource type: {type}.",
        },
        "validation.resource_type_mismatch": {
            "fr": "Type de ressource {type} reçu alors que {expected} est attendu.",
            "en": "Resource type {type} received where {expected} is expected.",
        },
        "validation.unknown_element": {
            "fr": "Élément inconnu : {name}.",
            "en": "Unknown element: {name}.",
        },
        "validation.expected_array": {
            "fr": "L'élément {name} est répétable et doit être un tableau JSON.",
            "en": "Element {name} repeats and must be a JSON array.",
        },
        "validation.unexpected_array": {
            "fr": "L'élément {name} ne se répète pas et ne doit pas être un tableau JSON.",
            "en": "Element {name} does not repeat and must not be a JSON array.",
        },
        "validation.expected_object": {
            "fr": "L'élément {name} doit être un objet JSON.",
            "en": "Element {name} must be a JSON object.",
        },
        "validation.empty_object": {
            "fr": "Un élément doit avoir une valeur ou des enfants (ele-1) : objet vide interdit.",
            "en": "An element must have a value or children (ele-1): empty objects are not allowed.",
        },
        "validation.empty_array": {
            "fr": "Les tableaux vides sont interdits ; omettre l'élément {name}.",
            "en": "Empty arrays are not allowed; omit element {name}.",
        },
        "validation.null_value": {
            "fr": "null n'est permis que dans un tableau aligné sur des extensions de primitive.",
            "en": "null is only allowed in an array aligned with primitive extensions.",
        },
        "validation.too_many": {
            "fr": "L'élément {name} admet au plus {max} valeur(s), {count} reçue(s).",
            "en": "Element {name} allows at most {max} value(s), {count} received.",
        },
        "validation.too_few": {
            "fr": "L'élément {name} exige au moins {min} valeur(s), {count} reçue(s).",
            "en": "Element {name} requires at least {min} value(s), {count} received.",
        },
        "validation.missing_required": {
            "fr": "L'élément obligatoire {name} est absent.",
            "en": "Required element {name} is missing.",
        },
        "validation.choice_multiple": {
            "fr": "Une seule variante de l'élément {name} est permise.",
            "en": "Only one variant of element {name} is allowed.",
        },
        "validation.wrong_json_type": {
            "fr": "Une valeur {type} doit être un {json} JSON.",
            "en": "A {type} value must be a JSON {json}.",
        },
        "validation.invalid_primitive": {
            "fr": "Valeur invalide pour le type {type}.",
            "en": "Invalid value for type {type}.",
        },
        "validation.code_not_in_value_set": {
            "fr": "Le code « {code} » n'appartient pas au jeu de valeurs obligatoire {valueSet}.",
            "en": "Code '{code}' is not in the required value set {valueSet}.",
        },
        "validation.concept_not_in_value_set": {
            "fr": "Aucun codage ne provient du jeu de valeurs obligatoire {valueSet}.",
            "en": "No coding comes from the required value set {valueSet}.",
        },
        "validation.reference_syntax": {
            "fr": "Référence invalide « {reference} » (attendu Type/id, URL absolue, #id, urn:uuid: ou "
            "urn:oid:).",
            "en": "Invalid reference '{reference}' (expected Type/id, absolute URL, #id, urn:uuid: or "
            "urn:oid:).",
        },
        "validation.reference_unknown_type": {
            "fr": "La référence vise un type de ressource inconnu : {type}.",
            "en": "The reference targets an unknown resource type: {type}.",
        },
        "validation.primitive_extension_mismatch": {
            "fr": "Le tableau _{name} doit avoir la même longueur que {name}.",
            "en": "Array _{name} must have the same length as {name}.",
        },
        "validation.contained_nested": {
            "fr": "Une ressource contenue ne peut pas contenir d'autres ressources (dom-2).",
            "en": "A contained resource must not contain other resources (dom-2).",
        },
        "validation.contained_meta": {
            "fr": "Une ressource contenue ne peut pas avoir meta.versionId ni meta.lastUpdated (dom-4).",
            "en": "A contained resource must not have meta.versionId or meta.lastUpdated (dom-4).",
        },
        "validation.contained_unreferenced": {
            "fr": "La ressource contenue « {id} » n'est référencée nulle part dans la ressource (dom-3).",
            "en": "Contained resource '{id}' is not referenced from elsewhere in the resource (dom-3).",
        },
        "validation.narrative_div": {
            "fr": "Le texte narratif doit être un élément XHTML <div> (txt-1).",
            "en": "The narrative must be an XHTML <div> element (txt-1).",
        },
        "validation.narrative_unsafe": {
            "fr": "Le texte narratif ne doit contenir ni script ni attribut d'événement (txt-1).",
            "en": "The narrative must not contain scripts or event attributes (txt-1).",
        },
        "validation.extension_value_and_children": {
            "fr": "Une extension a soit une valeur, soit des sous-extensions, pas les deux (ext-1).",
            "en": "An extension has either a value or sub-extensions, not both (ext-1).",
        },
        "validation.too_deep": {
            "fr": "Imbrication trop profonde (plus de {max} niveaux) : validation interrompue.",
            "en": "Nesting too deep (more than {max} levels): validation stopped.",
        },
        "validation.too_many_issues": {
            "fr": "Plus de {max} problèmes : validation interrompue.",
            "en": "More than {max} issues: validation stopped.",
        },
    }
)
