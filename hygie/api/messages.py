"""Diagnostics of the REST layer, in French and English."""

from hygie.fhir.messages import register

register(
    {
        "not_found": {
            "fr": "Ressource {type}/{id} introuvable.",
            "en": "Resource {type}/{id} not found.",
        },
        "version_not_found": {
            "fr": "Version {vid} de {type}/{id} introuvable.",
            "en": "Version {vid} of {type}/{id} not found.",
        },
        "gone": {
            "fr": "La ressource {type}/{id} a été supprimée.",
            "en": "Resource {type}/{id} was deleted.",
        },
        "unknown_type": {
            "fr": "Type de ressource inconnu : {type}.",
            "en": "Unknown resource type: {type}.",
        },
        "unknown_route": {
            "fr": "Aucune interaction FHIR à cette adresse.",
            "en": "No FHIR interaction here.",
        },
        "method_not_allowed": {
            "fr": "Méthode {method} non permise ici.",
            "en": "Method {method} is not allowed here.",
        },
        "invalid_id": {
            "fr": "Identifiant logique invalide : « {id} » (1 à 64 caractères A-Z a-z 0-9 - .).",
            "en": "Invalid logical id: '{id}' (1 to 64 characters A-Z a-z 0-9 - .).",
        },
        "invalid_vid": {
            "fr": "Numéro de version invalide : « {vid} ».",
            "en": "Invalid version id: '{vid}'.",
        },
        "body_required": {"fr": "Le corps de la requête est requis.", "en": "A request body is required."},
        "body_too_large": {
            "fr": "Corps de requête trop volumineux (limite {limit} octets).",
            "en": "Request body too large (limit {limit} bytes).",
        },
        "too_deep": {
            "fr": "Imbrication JSON trop profonde (limite {limit}).",
            "en": "JSON nesting too deep (limit {limit}).",
        },
        "malformed_json": {"fr": "JSON mal formé : {detail}.", "en": "Malformed JSON: {detail}."},
        "not_an_object": {
            "fr": "Le corps doit être un objet JSON (une ressource FHIR).",
            "en": "The body must be a JSON object (a FHIR resource).",
        },
        "unsupported_media_type": {
            "fr": "Type de contenu non pris en charge : {type}. Utilisez application/fhir+json.",
            "en": "Unsupported content type: {type}. Use application/fhir+json.",
        },
        "not_acceptable": {
            "fr": "Format de réponse non disponible : {format}. Seul JSON est servi.",
            "en": "Response format not available: {format}. Only JSON is served.",
        },
        "type_mismatch": {
            "fr": "Le type de la ressource ({found}) ne correspond pas à l'adresse ({expected}).",
            "en": "The resource type ({found}) does not match the URL ({expected}).",
        },
        "id_mismatch": {
            "fr": "L'id de la ressource ({found}) ne correspond pas à l'adresse ({expected}).",
            "en": "The resource id ({found}) does not match the URL ({expected}).",
        },
        "id_missing": {
            "fr": "La ressource doit porter l'id {expected} pour une mise à jour.",
            "en": "The resource must carry id {expected} for an update.",
        },
        "version_conflict": {
            "fr": "Conflit de version : attendu {expected}, version actuelle {current}.",
            "en": "Version conflict: expected {expected}, current version is {current}.",
        },
        "bad_if_match": {
            "fr": "En-tête If-Match invalide : {value}.",
            "en": "Invalid If-Match header: {value}.",
        },
        "multiple_matches": {
            "fr": "Plusieurs ressources ({count}) correspondent aux critères conditionnels.",
            "en": "Several resources ({count}) match the conditional criteria.",
        },
        "conditional_id_mismatch": {
            "fr": "La ressource trouvée ({found}) ne correspond pas à l'id fourni ({given}).",
            "en": "The matching resource ({found}) does not match the supplied id ({given}).",
        },
        "criteria_required": {
            "fr": "Critères de recherche requis pour une opération conditionnelle.",
            "en": "Search criteria are required for a conditional interaction.",
        },
        "patch_invalid": {"fr": "Patch invalide : {detail}.", "en": "Invalid patch: {detail}."},
        "patch_failed": {
            "fr": "Le patch n'a pas pu être appliqué : {detail}.",
            "en": "The patch could not be applied: {detail}.",
        },
        "patch_changes_identity": {
            "fr": "Un patch ne peut pas changer le type ni l'id de la ressource.",
            "en": "A patch cannot change the resource type or id.",
        },
        "subsetted_write": {
            "fr": "Ressource marquée SUBSETTED (incomplète : lue avec _elements ou _summary) : elle "
            "ne peut pas être enregistrée ; relisez-la entière avant de la modifier.",
            "en": "Resource tagged SUBSETTED (incomplete: read with _elements or _summary): it "
            "cannot be stored; read it whole before changing it.",
        },
        "bad_param": {
            "fr": "Valeur invalide pour le paramètre {name} : « {value} ».",
            "en": "Invalid value for parameter {name}: '{value}'.",
        },
        "bundle_entry_not_list": {
            "fr": "Bundle.entry doit être une liste (JSON array) d'entrées.",
            "en": "Bundle.entry must be a list (JSON array) of entries.",
        },
        "bundle_expected": {
            "fr": "Une ressource Bundle de type batch ou transaction est attendue.",
            "en": "A Bundle resource of type batch or transaction is expected.",
        },
        "bundle_too_large": {
            "fr": "Trop d'entrées dans le Bundle ({count}, limite {limit}).",
            "en": "Too many entries in the Bundle ({count}, limit {limit}).",
        },
        "entry_request_invalid": {
            "fr": "Entrée {index} : requête invalide ({detail}).",
            "en": "Entry {index}: invalid request ({detail}).",
        },
        "entry_failed": {
            "fr": "Entrée {index} ({method} {url}) en échec ; détails dans les points suivants.",
            "en": "Entry {index} ({method} {url}) failed; see the following issues.",
        },
        "duplicate_full_url": {
            "fr": "fullUrl en double dans la transaction : {url}.",
            "en": "Duplicate fullUrl in the transaction: {url}.",
        },
        "duplicate_target": {
            "fr": "Plusieurs entrées de la transaction visent la même ressource : {url}.",
            "en": "Several transaction entries target the same resource: {url}.",
        },
        "unresolved_reference": {
            "fr": "Référence conditionnelle « {ref} » : {count} correspondance(s), une seule attendue.",
            "en": "Conditional reference '{ref}': {count} match(es), exactly one expected.",
        },
        "created": {"fr": "Ressource créée.", "en": "Resource created."},
        "updated": {"fr": "Ressource mise à jour.", "en": "Resource updated."},
        "deleted": {"fr": "Ressource supprimée.", "en": "Resource deleted."},
        "delete_nothing": {"fr": "Rien à supprimer.", "en": "Nothing to delete."},
        "internal_error": {
            "fr": "Erreur interne du serveur (référence {ref}). Rien n'a été modifié.",
            "en": "Internal server error (reference {ref}). Nothing was changed.",
        },
        "not_implemented": {
            "fr": "Non pris en charge : {what}.",
            "en": "Not supported: {what}.",
        },
        "valid": {"fr": "La ressource est valide.", "en": "The resource is valid."},
    }
)
