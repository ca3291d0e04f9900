"""The match rules of crm_admin/matching.py: which spellings of a company or a person are one
(a likely duplicate), in any script, and which stay apart."""

# ruff: noqa: RUF001 (letters that look like Latin ones are the point of these tests)

import pytest
from django.test import override_settings

from crm_admin.matching import company_name_key, domain_key, person_name_key, phone_key

# --- company names -------------------------------------------------------------------------

SAME_COMPANY = [
    pytest.param("Acme Inc.", "ACME, Inc", id="case-and-punctuation"),
    pytest.param("Acme Inc.", "acme", id="inc"),
    pytest.param("Acme Incorporated", "Acme", id="incorporated"),
    pytest.param("Acme Ltd", "Acme Limited", id="ltd"),
    pytest.param("Acme GmbH", "ACME", id="gmbh"),
    pytest.param("Acme S.A.", "Acme S. A.", id="sa-dotted-and-spaced"),
    pytest.param("Acme SA", "Acme", id="sa"),
    pytest.param("Acme LLC", "Acme, L.L.C.", id="llc"),
    pytest.param("Acme GmbH & Co. KG", "Acme", id="gmbh-co-kg"),
    pytest.param("Acme S.A. de C.V.", "Acme", id="sa-de-cv"),
    pytest.param("Acme Sp. z o.o.", "Acme", id="sp-z-oo"),
    pytest.param("The Acme Company", "Acme", id="leading-article"),
    pytest.param("Acme & Co.", "Acme and Co", id="ampersand"),
    pytest.param("Procter & Gamble", "Procter and Gamble", id="ampersand-in-the-name"),
    pytest.param("O'Brien Ltd", "OBrien", id="apostrophe"),
    pytest.param("O’Brien Ltd", "O'Brien", id="typographic-apostrophe"),
    pytest.param("Acme-Widgets", "Acme Widgets", id="hyphen"),
    pytest.param("Ärzte GmbH", "Arzte GmbH", id="german-umlaut"),
    pytest.param("A\u0308rzte GmbH", "Ärzte", id="german-decomposed"),
    pytest.param("Société Générale S.A.", "SOCIETE GENERALE", id="french-accents"),
    pytest.param("Łódź Sp. z o.o.", "Lodz", id="polish-stroke"),
    pytest.param("İstanbul Ltd", "istanbul", id="turkish-dotted-i"),
    pytest.param("ＡＣＭＥ Inc", "Acme", id="full-width"),
    pytest.param("ООО «Ромашка»", "Ромашка", id="cyrillic-prefix"),
    pytest.param("Ромашка ООО", "ООО Ромашка", id="cyrillic-suffix"),
    pytest.param("АО Банк", "банк", id="cyrillic-ao"),
    pytest.param("Ёлка ООО", "Елка", id="cyrillic-yo"),
    pytest.param("株式会社トヨタ", "トヨタ株式会社", id="japanese-kabushiki-kaisha"),
    pytest.param("トヨタ 株式会社", "トヨタ", id="japanese-spaced"),
    pytest.param("㈱トヨタ", "トヨタ", id="japanese-abbreviated"),
    pytest.param("トヨタ（株）", "トヨタ", id="japanese-abbreviated-full-width"),
    pytest.param("ｶﾞｽ", "ガス", id="japanese-half-width"),
    pytest.param("(주)삼성", "삼성 주식회사", id="korean"),
    pytest.param("㈜삼성", "삼성", id="korean-abbreviated"),
    pytest.param("阿里巴巴股份有限公司", "阿里巴巴有限公司", id="chinese"),
    pytest.param("Ελληνικά Α.Ε.", "ΕΛΛΗΝΙΚΑ", id="greek-ae-and-tonos"),
    pytest.param("שָׁלוֹם בע״מ", "שלום בע״מ", id="hebrew-points"),
    pytest.param("مُحَمَّد", "محمد", id="arabic-vowel-marks"),
]

DIFFERENT_COMPANY = [
    pytest.param("ガス", "カス", id="japanese-voicing-mark"),
    pytest.param("ダイ", "タイ", id="japanese-voicing-mark-2"),
    pytest.param("कुल", "कल", id="hindi-vowel-sign-u"),
    pytest.param("किताब", "कताब", id="hindi-vowel-sign-i"),
    pytest.param("Inc", "Acme Inc", id="only-a-legal-form"),
    pytest.param("Inc", "Ltd", id="two-legal-forms-alone"),
    pytest.param("Acme", "Acme Widgets", id="another-word"),
    pytest.param("Acme", "Acne", id="another-letter"),
    pytest.param("Ёлка", "Ёлки", id="cyrillic"),
    pytest.param("Ромашка ООО", "Ромашка Плюс ООО", id="cyrillic-another-word"),
]


@pytest.mark.parametrize(("first", "second"), SAME_COMPANY)
def test_spellings_of_one_company_name_share_a_key(first, second):
    assert company_name_key(first) == company_name_key(second) != ""


@pytest.mark.parametrize(("first", "second"), DIFFERENT_COMPANY)
def test_different_company_names_have_different_keys(first, second):
    assert company_name_key(first) != company_name_key(second)


def test_a_name_that_is_only_a_legal_form_keeps_it_as_its_key():
    assert [company_name_key(name) for name in ("Inc.", "ООО", "株式会社", "(株)")] == [
        "inc",
        "ооо",
        "株式会社",
        "株",
    ]


@pytest.mark.parametrize("name", ["", "   ", None, "...", "«»"])
def test_a_company_name_without_letters_has_no_key(name):
    assert company_name_key(name) == ""


# --- websites ------------------------------------------------------------------------------

SAME_DOMAIN = [
    pytest.param("https://www.acme.com/about", "acme.com", id="scheme-www-path"),
    pytest.param("HTTP://ACME.COM", "acme.com", id="case"),
    pytest.param("http://acme.com:8080/x", "acme.com", id="port"),
    pytest.param("https://acme.com.", "acme.com", id="trailing-dot"),
    pytest.param("https://user@acme.com/?utm=1#top", "www.acme.com", id="user-query-fragment"),
    pytest.param("  acme.com/  ", "acme.com", id="spaces"),
    pytest.param("https://ａｃｍｅ.com", "acme.com", id="full-width"),
    pytest.param("https://xn--mnchen-3ya.de/", "münchen.de", id="idn-punycode"),
    pytest.param("https://www.MÜNCHEN.de", "münchen.de", id="idn-case"),
    pytest.param("https://xn--strae-oqa.de", "STRASSE.DE", id="idn-sharp-s"),
    pytest.param(
        "https://www.linkedin.com/company/acme/about/",
        "linkedin.com/company/ACME",
        id="shared-host",
    ),
    pytest.param(
        "https://uk.linkedin.com/company/acme", "linkedin.com/company/acme", id="shared-subdomain"
    ),
    pytest.param("https://m.facebook.com/Acme", "facebook.com/acme", id="shared-mobile"),
    pytest.param(
        "linkedin.com/company/m%C3%BCnchen", "linkedin.com/company/münchen", id="shared-quoted"
    ),
]

DIFFERENT_DOMAIN = [
    pytest.param("acme.com", "acme.de", id="another-domain"),
    pytest.param("shop.acme.com", "acme.com", id="subdomain"),
    pytest.param("linkedin.com/company/acme", "linkedin.com/company/globex", id="shared-host"),
    pytest.param(
        "https://uk.linkedin.com/company/acme",
        "https://de.linkedin.com/company/globex",
        id="shared-subdomains",
    ),
    pytest.param("github.com/acme", "github.com/acme-labs", id="shared-host-account"),
    pytest.param("https://xn--invalid-.com", "invalid.com", id="punycode-not-reading-back"),
]


@pytest.mark.parametrize(("first", "second"), SAME_DOMAIN)
def test_spellings_of_one_website_share_a_key(first, second):
    assert domain_key(first) == domain_key(second) != ""


@pytest.mark.parametrize(("first", "second"), DIFFERENT_DOMAIN)
def test_different_websites_have_different_keys(first, second):
    assert domain_key(first) != domain_key(second)


@pytest.mark.parametrize(
    "website",
    ["", "   ", None, "http://[::1", "http://[::1]", "https://", "n/a", "none", "localhost", "-"],
)
def test_a_website_without_a_domain_has_no_key(website):
    assert domain_key(website) == ""


def test_a_domain_key_reads_like_the_domain():
    assert domain_key("https://www.xn--mnchen-3ya.de:443/kontakt") == "münchen.de"
    assert domain_key("https://www.linkedin.com/company/acme/jobs") == "linkedin.com/company/acme"


# --- phones --------------------------------------------------------------------------------

SAME_PHONE = [
    pytest.param("(212) 555-0142", "+1 212 555 0142", None, id="us-national"),
    pytest.param("212.555.0142", "1-212-555-0142", None, id="us-dots-and-trunk"),
    pytest.param("tel:+12125550142", "+1 (212) 555 0142", None, id="tel-uri"),
    pytest.param("+1 212 555 0142 ext. 12", "(212) 555-0142 x12", None, id="extension"),
    pytest.param("1-800-FLOWERS", "1-800-356-9377", None, id="letters-of-a-vanity-number"),
    pytest.param("212-555-0142 (office)", "+12125550142", None, id="a-note-after"),
    pytest.param("mobile: 212 555 0142", "+12125550142", None, id="a-note-before"),
    pytest.param("020 7946 0958", "+44 20 7946 0958", "GB", id="gb-national"),
    pytest.param("+44 (0)20 7946 0958", "00 44 20 7946 0958", "GB", id="gb-trunk-and-prefix"),
    pytest.param("٠٢٠ ٧٩٤٦ ٠٩٥٨", "020 7946 0958", "GB", id="arabic-indic-digits"),
    pytest.param("۰۲۰ ۷۹۴۶ ۰۹۵۸", "020 7946 0958", "GB", id="persian-digits"),
    pytest.param("＋４４ ２０ ７９４６ ０９５８", "+44 20 7946 0958", "US", id="full-width"),
    pytest.param("01 23 45 67 89", "+33 1 23 45 67 89", "FR", id="fr-national"),
]

DIFFERENT_PHONE = [
    pytest.param("+1 212 555 0142", "+1 212 555 0143", None, id="another-number"),
    pytest.param("+1 212 555 0142 x12", "+1 212 555 0142", None, id="an-extension"),
    pytest.param("+1 212 555 0142 x12", "+1 212 555 0142 x13", None, id="another-extension"),
    pytest.param("020 7946 0958", "+44 20 7946 0958", "US", id="a-national-number-elsewhere"),
]


@pytest.mark.parametrize(("first", "second", "region"), SAME_PHONE)
def test_spellings_of_one_phone_number_share_a_key(first, second, region):
    with override_settings(CRM_PHONE_REGION=region or "US"):
        assert phone_key(first) == phone_key(second) != ""


@pytest.mark.parametrize(("first", "second", "region"), DIFFERENT_PHONE)
def test_different_phone_numbers_have_different_keys(first, second, region):
    with override_settings(CRM_PHONE_REGION=region or "US"):
        assert phone_key(first) != phone_key(second)


@pytest.mark.parametrize("phone", ["", "  ", None, "123", "1234", "call me", "n/a", "+", "+1"])
def test_a_phone_without_enough_digits_has_no_key(phone):
    assert phone_key(phone) == ""


def test_a_phone_key_is_e164_with_its_extension():
    assert phone_key("(212) 555-0142 #12") == "+12125550142;ext=12"


def test_national_numbers_are_read_in_the_configured_region(settings):
    assert phone_key("020 7946 0958") == "02079460958"  # US by default: not a US number
    settings.CRM_PHONE_REGION = "GB"
    assert phone_key("020 7946 0958") == "+442079460958"
    assert phone_key("(212) 555-0142") != "+12125550142"
    assert phone_key("(212) 555-0142", region="US") == "+12125550142"  # the argument wins


def test_a_value_no_number_can_be_read_from_keeps_its_digits():
    assert phone_key("Room 12345") == phone_key("12345") == "12345"
    assert phone_key("٠٠٠ ١٢٣٤٥") == "00012345"


# --- person names --------------------------------------------------------------------------

SAME_PERSON = [
    pytest.param(("John", "Smith"), ("Smith", "John"), id="order"),
    pytest.param(("JOHN", "smith"), ("John", "Smith"), id="case"),
    pytest.param(("José", "Smith"), ("Jose", "SMITH"), id="accent"),
    pytest.param(("Smith,", "José"), ("Jose", "Smith"), id="comma"),
    pytest.param(("John", "O'Brien"), ("John", "O’Brien"), id="apostrophes"),
    pytest.param(("John", "O'Brien"), ("John", "OBrien"), id="apostrophe-left-out"),
    pytest.param(("Jean-Luc", "Picard"), ("Jean Luc", "Picard"), id="hyphen"),
    pytest.param(("J.R.", "Smith"), ("JR", "Smith"), id="initials-dotted"),
    pytest.param(("Jürgen", "Müller"), ("Jurgen", "Muller"), id="umlaut"),
    pytest.param(("Фёдор", "Ёлкин"), ("Федор", "Елкин"), id="cyrillic-yo"),
    pytest.param(("Фёдор", "Ёлкин"), ("ЁЛКИН", "ФЁДОР"), id="cyrillic-order-and-case"),
    pytest.param(("Σωκράτης", "Παπαδόπουλος"), ("ΣΩΚΡΑΤΗΣ", "ΠΑΠΑΔΟΠΟΥΛΟΣ"), id="greek"),
    pytest.param(("太郎", "田中"), ("田中", "太郎"), id="japanese-order"),
    pytest.param(("Ann", ""), ("", "ann"), id="one-name"),
]

DIFFERENT_PERSON = [
    pytest.param(("Ann", "Lee"), ("Anna", "Lee"), id="another-name"),
    pytest.param(("Jean-Luc", "Picard"), ("Jean", "Picard"), id="a-name-less"),
    pytest.param(("Фёдор", "Ёлкин"), ("Фёдор", "Ёлкина"), id="cyrillic"),
    pytest.param(("ガス", "田中"), ("カス", "田中"), id="japanese-voicing-mark"),
]


@pytest.mark.parametrize(("first", "second"), SAME_PERSON)
def test_spellings_of_one_person_share_a_key(first, second):
    assert person_name_key(*first) == person_name_key(*second) != ""


@pytest.mark.parametrize(("first", "second"), DIFFERENT_PERSON)
def test_different_people_have_different_keys(first, second):
    assert person_name_key(*first) != person_name_key(*second)


@pytest.mark.parametrize("names", [("", ""), (None, None), ("-", "–"), ("...", "")])
def test_a_person_without_a_name_has_no_key(names):
    assert person_name_key(*names) == ""


def test_a_person_key_is_the_folded_words_in_order():
    assert person_name_key("José", "Smith-Jones") == "jones jose smit"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Jon", "Smith"), ("John", "Smith")),  # the issue's own example
        (("Philip", "Anders"), ("Phillip", "Anders")),
        (("Sara", "Connor"), ("Sarah", "Conor")),
        (("Thomas", "Müller"), ("Tomas", "Muller")),
    ],
)
def test_a_person_key_reads_latin_names_by_their_sound(first, second):
    assert person_name_key(*first) == person_name_key(*second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Jane", "Smith"), ("John", "Smith")),
        (("Ann", "Lee"), ("Ann", "Li")),
        (("Hana", "Sato"), ("Ana", "Sato")),  # the first letter is kept, "h" included
        (("Ёлка", "Иванова"), ("Ёлка", "Иваннова")),  # other scripts are spelled as written
    ],
)
def test_a_person_key_keeps_names_that_sound_different_apart(first, second):
    assert person_name_key(*first) != person_name_key(*second)
