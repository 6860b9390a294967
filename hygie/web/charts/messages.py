"""The charts' own words in French, English and Arabic (every key has the three languages:
``tests/web/charts/test_chart_messages.py``).

Plain language, no plural forms to get wrong: counts are written "readings: 12". Measure labels
and units follow the sample catalogue (``hygie/monitoring/data/vitals.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGS = ("fr", "en", "ar")

MESSAGES: dict[str, dict[str, str]] = {
    # Measures (catalogue kinds)
    "measure.heart-rate": {"fr": "Fréquence cardiaque", "en": "Heart rate", "ar": "معدل ضربات القلب"},
    "measure.spo2": {
        "fr": "Saturation en oxygène (SpO2)",
        "en": "Oxygen saturation (SpO2)",
        "ar": "تشبع الأكسجين (SpO2)",
    },
    "measure.blood-pressure": {"fr": "Pression artérielle", "en": "Blood pressure", "ar": "ضغط الدم"},
    "measure.respiratory-rate": {
        "fr": "Fréquence respiratoire",
        "en": "Respiratory rate",
        "ar": "معدل التنفس",
    },
    "measure.body-temperature": {"fr": "Température", "en": "Body temperature", "ar": "درجة حرارة الجسم"},
    "measure.skin-temperature": {
        "fr": "Température cutanée",
        "en": "Skin temperature",
        "ar": "درجة حرارة الجلد",
    },
    "measure.body-weight": {"fr": "Poids", "en": "Weight", "ar": "الوزن"},
    "measure.glucose": {"fr": "Glycémie", "en": "Blood glucose", "ar": "سكر الدم"},
    "measure.interstitial-glucose": {
        "fr": "Glucose (capteur)",
        "en": "Glucose (sensor)",
        "ar": "الغلوكوز (المستشعر)",
    },
    "measure.steps": {"fr": "Nombre de pas", "en": "Steps", "ar": "عدد الخطوات"},
    "measure.sleep": {"fr": "Sommeil", "en": "Sleep", "ar": "النوم"},
    "unit.steps": {"fr": "pas", "en": "steps", "ar": "خطوة"},
    # Chart titles
    "title.news2": {
        "fr": "Score NEWS2 (alerte précoce)",
        "en": "NEWS2 early warning score",
        "ar": "مؤشر الإنذار المبكر NEWS2",
    },
    "title.tir": {"fr": "Temps dans les plages", "en": "Time in ranges", "ar": "الوقت في النطاقات"},
    "title.agp": {
        "fr": "Profil glycémique ambulatoire (AGP)",
        "en": "Ambulatory glucose profile (AGP)",
        "ar": "المرتسم الجلوكوزي المتنقل (AGP)",
    },
    # No data
    "nodata": {
        "fr": "Aucune donnée pour cette période",
        "en": "No data for this period",
        "ar": "لا توجد بيانات لهذه الفترة",
    },
    "nodata.summary": {
        "fr": "{title} : aucune donnée pour cette période.",
        "en": "{title}: no data for this period.",
        "ar": "{title}: لا توجد بيانات لهذه الفترة.",
    },
    "nodata.summary.period": {
        "fr": "{title} : aucune donnée du {start} au {end}.",
        "en": "{title}: no data from {start} to {end}.",
        "ar": "{title}: لا توجد بيانات من {start} إلى {end}.",
    },
    # Table columns
    "col.time": {"fr": "Date et heure", "en": "Date and time", "ar": "التاريخ والوقت"},
    "col.value": {"fr": "Valeur ({unit})", "en": "Value ({unit})", "ar": "القيمة ({unit})"},
    "col.systolic": {"fr": "Systolique ({unit})", "en": "Systolic ({unit})", "ar": "الانقباضي ({unit})"},
    "col.diastolic": {"fr": "Diastolique ({unit})", "en": "Diastolic ({unit})", "ar": "الانبساطي ({unit})"},
    "col.period": {"fr": "Début de la période", "en": "Period start", "ar": "بداية الفترة"},
    "col.mean": {"fr": "Moyenne ({unit})", "en": "Mean ({unit})", "ar": "المتوسط ({unit})"},
    "col.min": {"fr": "Minimum ({unit})", "en": "Minimum ({unit})", "ar": "الحد الأدنى ({unit})"},
    "col.max": {"fr": "Maximum ({unit})", "en": "Maximum ({unit})", "ar": "الحد الأقصى ({unit})"},
    "col.count": {"fr": "Nombre de mesures", "en": "Readings", "ar": "عدد القياسات"},
    "col.score": {"fr": "Score", "en": "Score", "ar": "النتيجة"},
    "col.risk": {"fr": "Risque clinique", "en": "Clinical risk", "ar": "الخطر السريري"},
    "col.range": {"fr": "Plage", "en": "Range", "ar": "النطاق"},
    "col.limits": {"fr": "Limites ({unit})", "en": "Limits ({unit})", "ar": "الحدود ({unit})"},
    "col.share": {"fr": "Part du temps", "en": "Share of time", "ar": "نسبة الوقت"},
    "col.per_day": {"fr": "Durée par jour", "en": "Time per day", "ar": "المدة في اليوم"},
    "col.target": {"fr": "Objectif", "en": "Target", "ar": "الهدف"},
    "col.time_of_day": {"fr": "Heure de la journée", "en": "Time of day", "ar": "وقت اليوم"},
    "col.p5": {"fr": "5e centile", "en": "5th percentile", "ar": "المئين 5"},
    "col.p25": {"fr": "25e centile", "en": "25th percentile", "ar": "المئين 25"},
    "col.p50": {"fr": "Médiane", "en": "Median", "ar": "الوسيط"},
    "col.p75": {"fr": "75e centile", "en": "75th percentile", "ar": "المئين 75"},
    "col.p95": {"fr": "95e centile", "en": "95th percentile", "ar": "المئين 95"},
    # Legends
    "legend.minmax": {"fr": "Minimum–maximum", "en": "Minimum–maximum", "ar": "الأدنى–الأقصى"},
    "legend.mean.minute": {"fr": "Moyenne par minute", "en": "Mean per minute", "ar": "المتوسط لكل دقيقة"},
    "legend.mean.hour": {"fr": "Moyenne par heure", "en": "Hourly mean", "ar": "المتوسط لكل ساعة"},
    "legend.mean.day": {"fr": "Moyenne par jour", "en": "Daily mean", "ar": "المتوسط اليومي"},
    "legend.target": {"fr": "Cible {range}", "en": "Target {range}", "ar": "الهدف {range}"},
    "legend.systolic": {"fr": "Systolique", "en": "Systolic", "ar": "الانقباضي"},
    "legend.diastolic": {"fr": "Diastolique", "en": "Diastolic", "ar": "الانبساطي"},
    "legend.single3": {"fr": "Un paramètre à 3", "en": "One parameter at 3", "ar": "معيار واحد بقيمة 3"},
    "legend.median": {"fr": "Médiane", "en": "Median", "ar": "الوسيط"},
    "legend.p25_75": {"fr": "25e–75e centile", "en": "25th–75th percentile", "ar": "المئين 25–75"},
    "legend.p5_95": {"fr": "5e–95e centile", "en": "5th–95th percentile", "ar": "المئين 5–95"},
    # NEWS2 clinical risk (Royal College of Physicians 2017, Chart 2)
    "risk.low": {"fr": "Faible", "en": "Low", "ar": "منخفض"},
    "risk.low-medium": {"fr": "Faible à moyen", "en": "Low–medium", "ar": "منخفض إلى متوسط"},
    "risk.medium": {"fr": "Moyen", "en": "Medium", "ar": "متوسط"},
    "risk.high": {"fr": "Élevé", "en": "High", "ar": "مرتفع"},
    # CGM ranges (Battelino 2019)
    "range.tbr2": {"fr": "Très bas", "en": "Very low", "ar": "منخفض جدًا"},
    "range.tbr1": {"fr": "Bas", "en": "Low", "ar": "منخفض"},
    "range.tir": {"fr": "Dans la cible", "en": "In range", "ar": "ضمن النطاق"},
    "range.tar1": {"fr": "Haut", "en": "High", "ar": "مرتفع"},
    "range.tar2": {"fr": "Très haut", "en": "Very high", "ar": "مرتفع جدًا"},
    "target.below": {"fr": "moins de {value}", "en": "under {value}", "ar": "أقل من {value}"},
    "target.above": {"fr": "plus de {value}", "en": "over {value}", "ar": "أكثر من {value}"},
    "target.with_tbr2": {
        "fr": "{target}, très bas compris",
        "en": "{target} including very low",
        "ar": "{target} بما في ذلك المنخفض جدًا",
    },
    "target.with_tar2": {
        "fr": "{target}, très haut compris",
        "en": "{target} including very high",
        "ar": "{target} بما في ذلك المرتفع جدًا",
    },
    "target.status": {"fr": "{target} ({status})", "en": "{target} ({status})", "ar": "{target} ({status})"},
    "sum.tir.missed": {
        "fr": "Autres objectifs non atteints : {items}.",
        "en": "Other targets not met: {items}.",
        "ar": "أهداف أخرى غير محققة: {items}.",
    },
    "tir.label": {"fr": "{share} · {per_day}", "en": "{share} · {per_day}", "ar": "{share} · {per_day}"},
    "agp.above": {"fr": "{span} au-dessus", "en": "{span} above", "ar": "{span} فوقه"},
    "agp.below": {"fr": "{span} en dessous", "en": "{span} below", "ar": "{span} تحته"},
    "target.met": {"fr": "atteint", "en": "met", "ar": "محقق"},
    "target.missed": {"fr": "non atteint", "en": "not met", "ar": "غير محقق"},
    "per_day": {"fr": "{duration} par jour", "en": "{duration} per day", "ar": "{duration} في اليوم"},
    # Summaries
    "sum.period": {"fr": "du {start} au {end}", "en": "from {start} to {end}", "ar": "من {start} إلى {end}"},
    "sum.count": {
        "fr": "{title}, {period}. Mesures : {n}.",
        "en": "{title}, {period}. Readings: {n}.",
        "ar": "{title}، {period}. عدد القياسات: {n}.",
    },
    "sum.scores": {
        "fr": "{title}, {period}. Scores : {n}.",
        "en": "{title}, {period}. Scores: {n}.",
        "ar": "{title}، {period}. عدد النتائج: {n}.",
    },
    "sum.extremes": {
        "fr": "Plus basse : {low} ({low_at}). Plus haute : {high} ({high_at}). "
        "Dernière : {last} ({last_at}).",
        "en": "Lowest: {low} ({low_at}). Highest: {high} ({high_at}). Latest: {last} ({last_at}).",
        "ar": "الأدنى: {low} ({low_at}). الأعلى: {high} ({high_at}). الأخير: {last} ({last_at}).",
    },
    "sum.range2": {
        "fr": "{label} : de {low} à {high}.",
        "en": "{label}: from {low} to {high}.",
        "ar": "{label}: من {low} إلى {high}.",
    },
    "sum.target.means": {
        "fr": "Cible {range} : {share} des moyennes dedans.",
        "en": "Target {range}: {share} of the means within it.",
        "ar": "الهدف {range}: {share} من المتوسطات ضمنه.",
    },
    "sum.buckets": {
        "fr": "{title}, {grain}, {period}. Périodes : {n} ; mesures : {count}.",
        "en": "{title}, {grain}, {period}. Periods: {n}; readings: {count}.",
        "ar": "{title}، {grain}، {period}. عدد الفترات: {n}؛ عدد القياسات: {count}.",
    },
    "sum.bucket_extremes": {
        "fr": "Moyennes de {mean_low} à {mean_high}. Minimum : {low} ({low_at}). "
        "Maximum : {high} ({high_at}).",
        "en": "Means from {mean_low} to {mean_high}. Minimum: {low} ({low_at}). Maximum: {high} ({high_at}).",
        "ar": "المتوسطات من {mean_low} إلى {mean_high}. الحد الأدنى: {low} ({low_at}). "
        "الحد الأقصى: {high} ({high_at}).",
    },
    "sum.target": {
        "fr": "Cible {range} : {share} des valeurs dedans.",
        "en": "Target {range}: {share} of values within it.",
        "ar": "الهدف {range}: {share} من القيم ضمنه.",
    },
    "sum.gaps": {
        "fr": "Interruptions des données : {n} (la plus longue : {longest}).",
        "en": "Gaps in the data: {n} (longest: {longest}).",
        "ar": "انقطاعات في البيانات: {n} (أطولها: {longest}).",
    },
    "sum.news2": {
        "fr": "Dernier score : {last} (risque {risk}, {at}). Score le plus élevé : {high} ({high_at}).",
        "en": "Latest score: {last} ({risk} risk, {at}). Highest score: {high} ({high_at}).",
        "ar": "آخر نتيجة: {last} (خطر {risk}، {at}). أعلى نتيجة: {high} ({high_at}).",
    },
    "sum.news2.bands": {
        "fr": "Scores par risque : élevé (7 ou plus) {high} ; moyen (5–6) {medium} ; faible (0–4) {low} ; "
        "dont un paramètre à 3 : {single}.",
        "en": "Scores by risk: high (7 or more) {high}; medium (5–6) {medium}; low (0–4) {low}; "
        "with one parameter at 3: {single}.",
        "ar": "النتائج حسب الخطر: مرتفع (7 أو أكثر) {high}؛ متوسط (5–6) {medium}؛ منخفض (0–4) {low}؛ "
        "منها معيار واحد بقيمة 3: {single}.",
    },
    "sum.tir.item": {
        "fr": "{range} {share} ({per_day})",
        "en": "{range} {share} ({per_day})",
        "ar": "{range} {share} ({per_day})",
    },
    "sum.tir": {
        "fr": "Temps dans les plages{days} : {items}. Objectif dans la cible {target} : {met}.",
        "en": "Time in ranges{days}: {items}. In-range target {target}: {met}.",
        "ar": "الوقت في النطاقات{days}: {items}. هدف الوقت ضمن النطاق {target}: {met}.",
    },
    "sum.days": {"fr": " (jours : {days})", "en": " (days: {days})", "ar": " (عدد الأيام: {days})"},
    "sum.agp": {
        "fr": "Mesures : {n}. Médiane de {low} ({low_at}) à {high} ({high_at}). "
        "La moitié des valeurs entre {p25} et {p75} ; 90 % entre {p5} et {p95}.",
        "en": "Readings: {n}. Median from {low} ({low_at}) to {high} ({high_at}). "
        "Half of the values between {p25} and {p75}; 90% between {p5} and {p95}.",
        "ar": "عدد القياسات: {n}. الوسيط من {low} ({low_at}) إلى {high} ({high_at}). "
        "نصف القيم بين {p25} و{p75}؛ و90% بين {p5} و{p95}.",
    },
    "sum.agp.inside": {
        "fr": "La médiane reste dans la cible {range} toute la journée.",
        "en": "The median stays within the target {range} all day.",
        "ar": "يبقى الوسيط ضمن الهدف {range} طوال اليوم.",
    },
    "sum.agp.outside": {
        "fr": "La médiane sort de la cible {range} : {periods}.",
        "en": "The median leaves the target {range}: {periods}.",
        "ar": "يخرج الوسيط عن الهدف {range}: {periods}.",
    },
    "sum.spark": {
        "fr": "{title}, dernières mesures : {n}, de {low} à {high}. Première : {first} ({first_at}). "
        "Dernière : {last} ({last_at}).",
        "en": "{title}, latest readings: {n}, from {low} to {high}. First: {first} ({first_at}). "
        "Latest: {last} ({last_at}).",
        "ar": "{title}، آخر القياسات: {n}، من {low} إلى {high}. الأول: {first} ({first_at}). "
        "الأخير: {last} ({last_at}).",
    },
    # Captions of the data tables
    "caption.points": {"fr": "{title} : valeurs", "en": "{title}: values", "ar": "{title}: القيم"},
    "caption.buckets": {"fr": "{title} : {grain}", "en": "{title}: {grain}", "ar": "{title}: {grain}"},
    "grain.minute": {"fr": "par minute", "en": "per minute", "ar": "لكل دقيقة"},
    "grain.hour": {"fr": "par heure", "en": "per hour", "ar": "لكل ساعة"},
    "grain.day": {"fr": "par jour", "en": "per day", "ar": "لكل يوم"},
    # Durations
    "duration.hm": {"fr": "{h} h {m} min", "en": "{h} h {m} min", "ar": "{h} س {m} د"},
    "duration.h": {"fr": "{h} h", "en": "{h} h", "ar": "{h} س"},
    "duration.m": {"fr": "{m} min", "en": "{m} min", "ar": "{m} د"},
    "duration.d": {"fr": "{d} j {h} h", "en": "{d} d {h} h", "ar": "{d} يوم {h} س"},
    "list.sep": {"fr": " ; ", "en": "; ", "ar": "؛ "},
}

MONTHS: dict[str, tuple[str, ...]] = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "ar": (
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ),
}


@dataclass(frozen=True, slots=True)
class Measure:
    """How a catalogue kind is shown: unit symbol (or message key) and decimals."""

    key: str
    unit: str
    decimals: int
    unit_key: str = ""


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("heart-rate", "/min", 0),
        Measure("spo2", "%", 0),
        Measure("blood-pressure", "mmHg", 0),
        Measure("respiratory-rate", "/min", 0),
        Measure("body-temperature", "°C", 1),
        Measure("skin-temperature", "°C", 1),
        Measure("body-weight", "kg", 1),
        Measure("glucose", "mmol/L", 1),
        Measure("interstitial-glucose", "mmol/L", 1),
        Measure("steps", "", 0, "unit.steps"),
        Measure("sleep", "min", 0),
    )
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang[:8]!r}")
    return lang


def t(key: str, lang: str, **params: Any) -> str:
    """The text of ``key`` in ``lang`` with ``params`` filled in."""
    return MESSAGES[key][check_lang(lang)].format(**params)


def measure(key: str) -> Measure:
    found = MEASURES.get(key)
    if found is None:
        raise ValueError(f"unknown measure {key[:64]!r}; one of {sorted(MEASURES)}")
    return found


def unit_of(m: Measure, lang: str) -> str:
    return t(m.unit_key, lang) if m.unit_key else m.unit
