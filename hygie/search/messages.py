"""Diagnostics of search, in French and English."""

from hygie.fhir.messages import register

register(
    {
        "unknown_param": {
            "fr": "Paramètre de recherche inconnu pour {type} : {name}.",
            "en": "Unknown search parameter for {type}: {name}.",
        },
        "unsupported_param": {
            "fr": "Paramètre de recherche {name} (type {type}) pas encore pris en charge.",
            "en": "Search parameter {name} (type {type}) is not supported yet.",
        },
        "bad_modifier": {
            "fr": "Modificateur invalide ou non pris en charge : {name}.",
            "en": "Invalid or unsupported modifier: {name}.",
        },
        "unsupported_modifier": {
            "fr": "Modificateur pas encore pris en charge : {name}.",
            "en": "Modifier not supported yet: {name}.",
        },
        "empty_alternative": {
            "fr": "Paramètre {name} : valeur vide dans la liste « {value} » (retirez la virgule en trop).",
            "en": "Parameter {name}: empty value in the list '{value}' (remove the extra comma).",
        },
    }
)
