"""Realistic Finnish demo data, made deterministically (the same every run)."""

import datetime
import random
from dataclasses import dataclass

from crm.validators import _BUSINESS_ID_WEIGHTS

FIRST_NAMES = [
    "Matti",
    "Maija",
    "Juha",
    "Anna",
    "Mikko",
    "Laura",
    "Jukka",
    "Sanna",
    "Timo",
    "Kaisa",
    "Antti",
    "Emilia",
    "Ville",
    "Aino",
    "Eero",
    "Päivi",
    "Jyrki",
    "Sari",
    "Pekka",
    "Tiina",
    "Heikki",
    "Riikka",
    "Olli",
    "Minna",
    "Tuomas",
    "Hanna",
    "Lauri",
    "Johanna",
    "Sami",
    "Elina",
    "Väinö",
    "Kristiina",
    "Jari",
    "Satu",
    "Markku",
    "Outi",
    "Ilkka",
    "Anu",
]
LAST_NAMES = [
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
    "Öhman",
    "Lindqvist",
]
CITIES = [
    "Helsinki",
    "Espoo",
    "Tampere",
    "Vantaa",
    "Oulu",
    "Turku",
    "Jyväskylä",
    "Lahti",
    "Kuopio",
    "Pori",
    "Joensuu",
    "Lappeenranta",
    "Vaasa",
    "Seinäjoki",
    "Rovaniemi",
]
INDUSTRIES = [
    "Software",
    "Construction",
    "Retail",
    "Manufacturing",
    "Logistics",
    "Healthcare",
    "Consulting",
    "Forestry",
    "Energy",
    "Hospitality",
    "Finance",
    "Education",
]
COMPANY_WORDS = [
    "Pohjola",
    "Kaleva",
    "Aurora",
    "Saimaa",
    "Revontuli",
    "Kuusi",
    "Tunturi",
    "Lumi",
    "Meri",
    "Kivi",
    "Vesi",
    "Tuuli",
    "Sisu",
    "Lappi",
    "Karhu",
    "Ilves",
    "Koivu",
    "Honka",
]
COMPANY_SUFFIXES = ["Oy", "Oy Ab", "Group Oy", "Solutions Oy", "Tech Oy", "Palvelut Oy"]
TITLES = [
    "Toimitusjohtaja",
    "Myyntipäällikkö",
    "Markkinointipäällikkö",
    "Ostopäällikkö",
    "Talousjohtaja",
    "IT-päällikkö",
    "Asiakkuuspäällikkö",
    "Projektipäällikkö",
    "HR-päällikkö",
    "Myyntiedustaja",
    "",
]
MOBILE_PREFIXES = ["40", "41", "44", "45", "46", "50"]


def business_id(rng: random.Random) -> str:
    while True:
        digits = f"{rng.randrange(1_000_000, 9_999_999)}"
        remainder = sum(int(d) * w for d, w in zip(digits, _BUSINESS_ID_WEIGHTS, strict=True)) % 11
        if remainder != 1:
            return f"{digits}-{0 if remainder == 0 else 11 - remainder}"


def mobile_number(rng: random.Random) -> str:
    prefix = rng.choice(MOBILE_PREFIXES)
    rest = f"{rng.randrange(0, 10_000_000):07d}"
    return f"+358 {prefix} {rest[:3]} {rest[3:]}"


@dataclass(frozen=True)
class DemoData:
    accounts: list[dict]
    contacts: list[dict]  # "account" is an index into accounts, or None


CONSENT_SOURCES = ["Verkkolomake", "Messut", "Asiakaspalvelu puhelimessa", "Uutiskirjeen tilaus"]


def legal_basis(rng: random.Random, *, at_account: bool) -> dict:
    """A realistic basis: people at an account mostly in their business role,
    private persons mostly by consent or as customers, a few with none."""
    if at_account:
        basis = rng.choices(
            ["business_role", "customer_relationship", "consent", "none"], [60, 20, 12, 8]
        )[0]
    else:
        basis = rng.choices(["consent", "customer_relationship", "none"], [50, 30, 20])[0]
    if basis != "consent":
        return {"legal_basis": basis}
    return {
        "legal_basis": basis,
        "consent_at": datetime.date(2025, 1, 1) + datetime.timedelta(days=rng.randrange(500)),
        "consent_source": rng.choice(CONSENT_SOURCES),
        "consent_evidence": f"Lomake {rng.randrange(1000, 9999)}",
    }


def make_demo(*, accounts: int = 80, contacts: int = 1000, seed: int = 2026) -> DemoData:
    """Accounts and contacts with the mess a real CRM holds: numbers without a
    country code, invalid numbers, shared numbers, opted-out and missing ones."""
    rng = random.Random(seed)
    account_rows = []
    names: set[str] = set()
    while len(account_rows) < accounts:
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        if name in names:
            name = f"{rng.choice(COMPANY_WORDS)}-{rng.choice(COMPANY_WORDS)} Oy"
        if name in names:
            # The word pool is finite: number the name rather than loop for ever.
            name = f"{rng.choice(COMPANY_WORDS)} {len(account_rows) + 1} Oy"
        names.add(name)
        city = rng.choice(CITIES)
        slug = name.split()[0].lower().replace("ä", "a").replace("ö", "o")
        account_rows.append(
            {
                "name": name,
                "business_id": business_id(rng),
                "industry": rng.choice(INDUSTRIES),
                "city": city,
                "country": "FI",
                "phone": f"+358 9 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                "email": f"info@{slug}.example",
                "website": f"https://www.{slug}.example",
            }
        )
    contact_rows = []
    used_numbers: list[str] = []
    # A generator of its own, so that the rows' other values stay as they were.
    basis_rng = random.Random(seed + 18)
    for i in range(contacts):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        account = rng.randrange(accounts) if rng.random() < 0.9 else None
        roll = rng.random()
        if roll < 0.05:
            mobile = ""  # no number
        elif roll < 0.10:
            mobile = "0" + mobile_number(rng)[5:]  # without the country code
        elif roll < 0.13:
            mobile = f"+358 {rng.randrange(10, 99)} {rng.randrange(10, 999)}"  # invalid
        elif roll < 0.16 and used_numbers:
            mobile = rng.choice(used_numbers)  # shared with another contact
        else:
            mobile = mobile_number(rng)
            used_numbers.append(mobile)
        email_name = f"{first}.{last}".lower().replace("ä", "a").replace("ö", "o").replace("å", "a")
        contact_rows.append(
            {
                "first_name": first,
                "last_name": last,
                "title": rng.choice(TITLES),
                "email": f"{email_name}.{i}@example.fi",
                "mobile_phone": mobile,
                "work_phone": mobile_number(rng) if rng.random() < 0.4 else "",
                "city": account_rows[account]["city"]
                if account is not None
                else rng.choice(CITIES),
                "language": rng.choices(["fi", "sv", "en"], weights=[85, 10, 5])[0],
                "sms_opt_out": rng.random() < 0.04,
                "account": account,
                **legal_basis(basis_rng, at_account=account is not None),
            }
        )
    return DemoData(accounts=account_rows, contacts=contact_rows)
