"""The match keys: how two companies or two contacts are told to be likely the same.

Emails and company names are unique once folded (crm_admin.folding); what is left is the
near-duplicate, which these keys find by index lookups:

- a company's *name key*: its name folded, Latin, Greek and Cyrillic accents and Hebrew and
  Arabic vowel marks dropped (Japanese voicing marks and Indic vowel signs make other letters
  and are kept), punctuation gone and legal forms (Inc, Ltd, GmbH, S.A., ООО, 株式会社, (주)...)
  left out, first or last, the words run together: "Acme Inc.", "ACME, Inc" and "acme" share
  "acme". A name that is only a legal form ("Inc") keeps it as its key;
- a company's *domain key*: its website's host, the scheme, port and `www.` dropped, punycode
  read as Unicode, so that "https://www.acme.com/about" and "acme.com" share "acme.com" (on
  hosts many companies share, such as linkedin.com and its subdomains, the first two path
  segments are part of the key). A host without a dot ("n/a", "localhost") has no key;
- a contact's *phone key*: the number in E.164 as the `phonenumbers` library reads it, national
  numbers read in settings.CRM_PHONE_REGION ("US" by default), an extension kept: "(212)
  555-0142" and "+1 212 555 0142" share "+12125550142". Text around a number ("212-555-0142
  (office)") is left out; a value with no number the library can read keeps its digits, when
  it has at least five. Changing CRM_PHONE_REGION changes the keys of national numbers: run
  `manage.py crm_match_keys` to recompute those stored;
- a contact's *name key*: the full name folded as a company's name is, its words sorted, and
  in each Latin word an "h" after the first letter and doubled letters left out: "José Smith"
  and "smith, jose" share "jose smit", as do "Jon Smith" and "John Smith" ("jon smit"), and
  "Philip Anders" and "Phillip Anders" ("anders pilip"). Names match within the same company
  only.

A key is '' when there is nothing to match on. Each key is a column (MatchKeyField) kept by
every write path as the folded keys are, and indexed where it is not ''.
"""  # noqa: RUF002 (the letters named are the point)

# ruff: noqa: RUF001, RUF003 (Cyrillic and Greek legal forms are the point)
# ruff: noqa: SIM905 (the word lists read best as words)

import contextlib
import unicodedata
from urllib.parse import unquote, urlsplit

import phonenumbers

from crm_admin.conf import crm_settings
from crm_admin.folding import DerivedKeyField, fold

# Legal forms left out of a company's name key, as its last word or its last words run
# together ("S. A." is "sa", "Sp. z o.o." is "spzoo"), once folded and stripped of punctuation.
LEGAL_SUFFIXES = frozenset(
    """
    inc incorporated corp corporation co company cos llc llp lp ltd limited plc gmbh mbh ag kg
    kgaa gmbhcokg ohg ug ev sa sas sasu sarl eurl sca scs spa srl srls sl slu sau bv nv vof cv
    oy oyj ab as asa aps ks sro spzoo doo dd ad ood eood ooo zao oao pao ao kk gk yk pty ptyltd
    pte pteltd bhd sdnbhd tbk pt ltda cialtda eireli sadecv sabdecv sapidecv srldecv sdecv
    sderl gmbhandcokg agandcokg andco andcokg αε επε ικε οε εε ооо зао оао пао ао ип тов пп ат
    """.split()
)
# Legal forms written first: "ООО «Ромашка»", "АО Банк" (or last: "Ромашка ООО").
LEGAL_PREFIXES = frozenset("ooo ооо зао оао пао ао ип тов пп ат".split())
# Legal forms of Chinese, Japanese and Korean names, written without spaces, first or last;
# the longer first, so that "股份有限公司" goes whole rather than leave "股份".
CJK_LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "有限公司",
    "주식회사",
)
# Their abbreviations in parentheses, anywhere in the name: "(주)삼성", "㈱トヨタ", "トヨタ（株）"
# (the one-character forms and full-width parentheses are these once folded).
CJK_ABBREVIATED_FORMS = ("(주)", "(株)", "(有)")
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
    folded = fold(name)
    for form in CJK_ABBREVIATED_FORMS:
        folded = folded.replace(form, " ")
    tokens = words(folded) or words(name)
    if not tokens:
        return ""
    joined = "".join(_without_legal_forms(tokens))
    for form in CJK_LEGAL_FORMS:
        if joined != form:
            joined = joined.removeprefix(form).removesuffix(form) or joined
    return joined


def _unicode_label(label: str) -> str:
    """A host's label as Unicode: "xn--mnchen-3ya" is "münchen". Punycode is read directly,
    not by the "idna" codec, which refuses labels IDNA 2003 maps ("straße" is "xn--strae-oqa"
    under IDNA 2008, "strasse" under 2003); a label that does not read back is kept."""
    if not label.startswith("xn--"):
        return label
    encoded = label[4:].encode("ascii", "replace")
    with contextlib.suppress(UnicodeError):
        decoded = encoded.decode("punycode")
        if not decoded.isascii() and decoded.encode("punycode") == encoded:
            return decoded
    return label


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
    host = ".".join(map(_unicode_label, host.rstrip(".").split(".")))
    host = fold(host).removeprefix("www.")
    if "." not in host:
        return ""  # "n/a", "localhost", "https://www.": no website to match on
    shared = next((name for name in SHARED_HOSTS if host.endswith(f".{name}")), host)
    if shared in SHARED_HOSTS:
        segments = [unquote(segment) for segment in parts.path.split("/") if segment][:2]
        return "/".join([shared, *map(fold, segments)])
    return host


# The most of a phone value read for a number (phonenumbers itself reads at most 250).
_PHONE_TEXT_LIMIT = 250


def phone_region() -> str:
    """The region national phone numbers are read in (settings.CRM_PHONE_REGION)."""
    return crm_settings.CRM_PHONE_REGION


def phone_key(phone: str | None, region: str | None = None) -> str:
    """The phone key of `phone` read in `region` (settings.CRM_PHONE_REGION by default)."""
    text = (phone or "").strip()
    if not text:
        return ""
    region = region or phone_region()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        # A note beside the number ("212-555-0142 (office)") reads as letters of a vanity
        # number or as too long: the first number found in the text is the one.
        found = phonenumbers.PhoneNumberMatcher(
            text[:_PHONE_TEXT_LIMIT], region, leniency=phonenumbers.Leniency.POSSIBLE
        )
        match = next(iter(found), None)
        number = match.number if match else None
    if number is not None and phonenumbers.is_possible_number(number):
        key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return f"{key};ext={number.extension}" if number.extension else key
    digits = "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())
    return digits if len(digits) >= 5 else ""


def _spelling(word: str) -> str:
    """A Latin-letter word as it sounds more than as it is spelled: an "h" after its first
    letter dropped and doubled letters written once, so that "Jon" and "John", "Philip" and
    "Phillip", "Sara" and "Sarah" are one name. Words in other scripts are kept as they are."""
    if not word.isascii() or not word.isalpha():
        return word
    letters = word[0] + word[1:].replace("h", "")
    return "".join(letter for i, letter in enumerate(letters) if i == 0 or letters[i - 1] != letter)


def person_name_key(first_name: str | None, last_name: str | None) -> str:
    """The name key of a person, whichever way round the names are written, each Latin word
    by its sound (_spelling): "John Smith", "Jon Smith" and "smith, jon" share "jon smit"."""
    return " ".join(sorted(map(_spelling, words(f"{first_name or ''} {last_name or ''}"))))


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
