"""What `crm_seed` writes for phone numbers and near-duplicates.

Phone numbers are unique across the database (a book of 100k contacts has few shared numbers),
each written in one of the ways people write them. A small share of the companies and contacts
are a second record of one seeded before, as careless users make them, so that the duplicates
pages have realistic groups at any size:

- a company under its name written another way ("Blue Harbor Inc" and "Blue Harbor, Inc.", or
  without its legal form), its website on the same domain; or another name on the website of
  the first (a brand and its company, "http://blueharbor.com/labs" and "https://www.blueharbor.com");
- a contact with the phone of the first written another way ("+1 212 555 0142" and "(212)
  555-0142"), under the same name; or the same name at the same company with another email.

Everything is drawn from the command's random generator: the same --seed gives the same rows.
"""

import random

from crm_admin.folding import fold
from crm_admin.matching import company_name_key

COMPANY_TWIN_SHARE = 0.01
CONTACT_TWIN_SHARE = 0.01
PHONE_SHARE = 0.9  # contacts with a phone number

# Numbers look real: the fictional ranges (555-0100 to 555-0199, Ofcom's drama numbers) hold a
# few thousand numbers, not the hundreds of thousands a large seed needs to keep them unique.
# fmt: off
US_AREA_CODES = [
    "201", "202", "206", "212", "213", "214", "215", "303", "305", "310", "312", "313", "404",
    "408", "412", "415", "469", "503", "512", "602", "612", "617", "646", "702", "713", "718",
    "720", "773", "786", "801", "818", "858", "917", "919", "971",
]
# fmt: on
# (share, country calling code, digit groups after it, ways of writing the groups). A group
# is "area" (a US area code), "exchange" (a US exchange: 2-9 then two digits, never N11 nor
# 555), fixed digits (a city's code), or a number of random digits.
PHONE_PLANS = [
    (
        85,
        "1",
        ("area", "exchange", 4),
        [
            "+1 {0} {1} {2}",
            "({0}) {1}-{2}",
            "{0}-{1}-{2}",
            "{0}.{1}.{2}",
            "+1-{0}-{1}-{2}",
            "+1 ({0}) {1}-{2}",
        ],
    ),
    (6, "44", ("20", 4, 4), ["+44 20 {1} {2}", "+44 (0)20 {1} {2}", "+44 20 {1}{2}"]),
    (5, "49", ("30", 4, 4), ["+49 30 {1}{2}", "+49 (0)30 {1} {2}", "+49-30-{1}-{2}"]),
    (
        4,
        "33",
        ("1", 2, 2, 2, 2),
        ["+33 {0} {1} {2} {3} {4}", "+33 (0){0} {1} {2} {3} {4}", "+33 {0}{1}{2}{3}{4}"],
    ),
]
_PLAN_WEIGHTS = [plan[0] for plan in PHONE_PLANS]

# Legal forms as they are written, and other ways of writing each (company_name_key drops all).
LEGAL_FORM_SPELLINGS = {
    "Inc": ["Inc.", ", Inc.", "Incorporated"],
    "LLC": ["L.L.C.", ", LLC"],
    "Ltd": ["Ltd.", "Limited"],
    "GmbH": ["G.m.b.H."],
    "Co": ["Co.", "Company", "& Co"],
    "Corp": ["Corp.", "Corporation"],
    "AG": ["A.G."],
    "BV": ["B.V."],
    "SA": ["S.A."],
}


class Phones:
    """Phone numbers for new contacts: each unique (against `taken`, the phone keys already
    stored, and those given out), as (key, text), the key being the E.164 form that
    crm_admin.matching.phone_key gives the text."""

    def __init__(self, rng: random.Random, taken):
        self.rng, self.taken = rng, set(taken)

    def new(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            _share, code, groups, formats = rng.choices(PHONE_PLANS, weights=_PLAN_WEIGHTS)[0]
            digits = [self._group(group) for group in groups]
            key = f"+{code}{''.join(digits)}"
            if key not in self.taken:
                self.taken.add(key)
                return key, rng.choice(formats).format(*digits)

    def _group(self, group) -> str:
        rng = self.rng
        if group == "area":
            return rng.choice(US_AREA_CODES)
        if group == "exchange":
            exchange = "555"
            while exchange == "555" or exchange[1:] == "11":
                exchange = f"{rng.randint(2, 9)}{rng.randrange(100):02d}"
            return exchange
        if isinstance(group, str):
            return group
        return f"{rng.randrange(10**group):0{group}d}"

    def rewritten(self, key: str, text: str) -> str:
        """The number `key` written another way than `text`."""
        for _share, code, groups, formats in PHONE_PLANS:
            prefix = f"+{code}"
            if not key.startswith(prefix):
                continue
            national = key.removeprefix(prefix)
            widths = [
                3 if g in ("area", "exchange") else len(g) if isinstance(g, str) else g
                for g in groups
            ]
            digits, start = [], 0
            for width in widths:
                digits.append(national[start : start + width])
                start += width
            others = [f.format(*digits) for f in formats if f.format(*digits) != text]
            return self.rng.choice(others)
        return text


def company_name_variants(name: str) -> list[str]:
    """Other ways of writing the company name `name` with the same name key: its legal form
    spelled otherwise, left out, or added; "and" for "&"."""
    stem, _, last = name.rpartition(" ")
    variants = []
    if last in LEGAL_FORM_SPELLINGS:
        variants += [
            f"{stem}{s}" if s.startswith(",") else f"{stem} {s}" for s in LEGAL_FORM_SPELLINGS[last]
        ]
        variants.append(stem)
        variants.append(f"{stem.upper()}, {last.upper()}")
    else:
        variants += [f"{name}, Inc.", f"{name} LLC", f"The {name}", name.upper()]
    if " & " in name:
        variants.append(name.replace(" & ", " and "))
    key = company_name_key(name)
    return [variant for variant in variants if company_name_key(variant) == key]


def website_variant(rng: random.Random, website: str) -> str:
    """The site of `website` written another way: scheme, `www.` or a page of it."""
    host = website.split("//", 1)[-1].split("/", 1)[0].removeprefix("www.")
    return rng.choice(
        [
            f"http://{host}",
            f"https://{host}/",
            f"http://www.{host}/contact",
            f"https://www.{host}/about-us",
        ]
    )


def twin_name(rng: random.Random, name: str, taken_names: set[str]) -> str | None:
    """A name variant of `name` not yet used (its folded form not in `taken_names`), or None."""
    variants = [v for v in company_name_variants(name) if fold(v) not in taken_names]
    return rng.choice(variants) if variants else None
