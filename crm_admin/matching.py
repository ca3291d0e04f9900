"""The match keys: how two companies or two contacts are told to be likely the same.

Emails and company names are unique once folded (crm_admin.folding); what is left is the
near-duplicate, which these keys find by index lookups:

- a company's *name key*: its name folded, Latin, Greek and Cyrillic accents and Hebrew and
  Arabic vowel marks dropped, punctuation gone and legal forms (Inc, Ltd, GmbH, S.A., ООО,
  株式会社...) left out, the words run together: "Acme Inc.", "ACME, Inc" and "acme" share "acme";
- a company's *domain key*: its website's host, the scheme and `www.` dropped, so that
  "https://www.acme.com/about" and "acme.com" share "acme.com" (on hosts many companies share,
  such as linkedin.com, the first two path segments are part of the key);
- a contact's *phone key*: the number in E.164 as the `phonenumbers` library reads it, national
  numbers read in settings.CRM_PHONE_REGION ("US" by default), an extension kept: "(212)
  555-0142" and "+1 212 555 0142" share "+12125550142"; a number the library cannot read keeps
  its digits;
- a contact's *name key*: the full name folded as a company's name is, its words sorted, so
  "José Smith" and "smith, jose" share "jose smith". Names match within the same company only.

A key is '' when there is nothing to match on. Each key is a column (MatchKeyField) kept by
every write path as the folded keys are, and indexed where it is not ''.
"""  # noqa: RUF002 (the letters named are the point)

# ruff: noqa: RUF001, RUF003 (Cyrillic and Greek legal forms are the point)
# ruff: noqa: SIM905 (the word lists read best as words)

import contextlib
import unicodedata
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings

from crm_admin.folding import DerivedKeyField, fold

# Legal forms left out of a company's name key, as its last word or its last words run
# together ("S. A." is "sa", "Sp. z o.o." is "spzoo"), once folded and stripped of punctuation.
LEGAL_SUFFIXES = frozenset(
    """
    inc incorporated corp corporation co company cos llc llp lp ltd limited plc gmbh mbh ag kg
    kgaa gmbhcokg ohg ug ev sa sas sasu sarl eurl sca scs spa srl srls sl slu sau bv nv vof cv
    oy oyj ab as asa aps ks sro spzoo doo dd ad ood eood ooo zao oao pao ao kk gk yk pty ptyltd
    pte pteltd bhd sdnbhd tbk pt ltda cialtda eireli sadecv sabdecv sapidecv srldecv sdecv
    sderl gmbhandcokg agandcokg andco andcokg αε επε ικε οε εε
    """.split()
)
# Legal forms written first: "ООО «Ромашка»", "АО Банк".
LEGAL_PREFIXES = frozenset("ooo ооо зао оао пао ао ип тов пп ат".split())
# Legal forms of Chinese, Japanese and Korean names, written without spaces, first or last.
CJK_LEGAL_FORMS = (
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "有限公司",
    "股份有限公司",
    "有限责任公司",
    "주식회사",
    "(주)",
    "㈜",
)
_LEADING_ARTICLES = frozenset({"the"})
# Latin letters that do not decompose into a base letter and an accent.
_LATIN_LETTERS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h"}
)
# Hosts many companies share: their key keeps the path's first two segments.
SHARED_HOSTS = frozenset(
    {
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "github.com",
        "sites.google.com",
        "medium.com",
        "youtube.com",
    }
)


def _drops_mark(base: str, mark: str) -> bool:
    """Whether the combining `mark` on `base` is an accent the keys ignore: on Latin, Greek
    and Cyrillic letters ("é", "ά", "ё"), and Hebrew and Arabic vowel points. Marks that
    make a different letter elsewhere (Japanese voicing, Indic vowel signs) are kept."""
    if "\u0591" <= mark <= "\u05c7" or "\u064b" <= mark <= "\u065f" or mark == "\u0670":
        return True
    name = unicodedata.name(base, "")
    return name.startswith(("LATIN", "GREEK", "CYRILLIC"))


def words(text: str | None) -> list[str]:
    """`text` folded, accents dropped and punctuation removed, as a list of words.

    Dots and apostrophes join ("S.A." is "sa", "O'Brien" is "obrien"), "&" is "and", every
    other punctuation mark or symbol separates words."""
    folded = fold(text)
    if not folded:
        return []
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", folded):
        if unicodedata.category(char) == "Mn":
            if kept and _drops_mark(kept[-1], char):
                continue
            kept.append(char)
        elif char in ".'’ʼ`":
            continue
        elif char == "&":
            kept.append(" and ")
        elif unicodedata.category(char)[0] in "PSZC":
            kept.append(" ")
        else:
            kept.append(char)
    text = unicodedata.normalize("NFC", "".join(kept)).translate(_LATIN_LETTERS)
    return text.split()


def _without_legal_forms(tokens: list[str]) -> list[str]:
    tokens = list(tokens)
    while len(tokens) > 1 and tokens[0] in LEGAL_PREFIXES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[0] in _LEADING_ARTICLES:
        tokens.pop(0)
    stripped = True
    while stripped and len(tokens) > 1:
        stripped = False
        for size in range(min(5, len(tokens) - 1), 0, -1):
            tail = "".join(tokens[-size:])
            if tail in LEGAL_SUFFIXES:
                del tokens[-size:]
                stripped = True
                break
    return tokens


def company_name_key(name: str | None) -> str:
    """The name key of a company called `name` ('' for no name)."""
    tokens = words(name)
    if not tokens:
        return ""
    joined = "".join(_without_legal_forms(tokens))
    for form in CJK_LEGAL_FORMS:
        if joined != form:
            joined = joined.removeprefix(form).removesuffix(form) or joined
    return joined


def domain_key(website: str | None) -> str:
    """The domain key of a company whose website is `website` ('' for none)."""
    text = (website or "").strip()
    if not text:
        return ""
    if "//" not in text:
        text = f"//{text}"
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    if host.startswith("xn--") or ".xn--" in host:
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    host = fold(host).removeprefix("www.")
    if host in SHARED_HOSTS:
        segments = [segment for segment in parts.path.split("/") if segment][:2]
        return "/".join([host, *map(fold, segments)])
    return host


def phone_region() -> str:
    """The region national phone numbers are read in (settings.CRM_PHONE_REGION)."""
    return getattr(settings, "CRM_PHONE_REGION", "US")


def phone_key(phone: str | None, region: str | None = None) -> str:
    """The phone key of `phone` read in `region` (settings.CRM_PHONE_REGION by default)."""
    text = (phone or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, region or phone_region())
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return f"{key};ext={number.extension}" if number.extension else key
    digits = "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())
    return digits if len(digits) >= 5 else ""


def person_name_key(first_name: str | None, last_name: str | None) -> str:
    """The name key of a person, whichever way round the names are written."""
    return " ".join(sorted(words(f"{first_name or ''} {last_name or ''}")))


RULES = {
    "company_name": (("name",), company_name_key),
    "company_domain": (("website",), domain_key),
    "contact_phone": (("phone",), phone_key),
    "contact_name": (("first_name", "last_name"), person_name_key),
}


class MatchKeyField(DerivedKeyField):
    """A match key column: `rule` names its sources and its function in RULES."""

    def __init__(self, *args, rule: str, **kwargs):
        self.rule = rule
        self.sources, self._derive = RULES[rule]
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "rule": self.rule}

    def derive(self, *values) -> str:
        return self._derive(*values)
