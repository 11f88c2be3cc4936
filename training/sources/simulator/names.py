"""Name parts and user agents the simulated identities and devices are made of."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "DE": _words(
        "lukas anna jonas lea felix laura max sophie paul julia leon hannah tim lena "
        "jan katrin stefan sabine thomas nina"
    ),
    "GB": _words(
        "oliver amelia harry olivia jack emily george isla james ava william jessica "
        "thomas sophie daniel chloe sam lucy ben grace"
    ),
    "FR": _words(
        "lucas emma hugo chloe louis ines nathan lea jules manon arthur camille theo "
        "sarah paul julie antoine marie leo claire"
    ),
    "NL": _words(
        "daan emma sem julia lucas mila levi sophie finn tess bram sanne thijs anouk "
        "ruben lotte jesse fleur lars eva"
    ),
    "US": _words(
        "michael jennifer david jessica chris ashley john sarah matt emily josh amanda "
        "ryan megan tyler rachel kevin lauren brian nicole"
    ),
    "ES": _words(
        "hugo lucia martin sofia pablo maria alejandro paula daniel carmen javier laura "
        "sergio elena carlos ana diego marta jorge irene"
    ),
    "IT": _words(
        "leonardo sofia francesco giulia alessandro aurora lorenzo alice matteo ginevra "
        "andrea chiara marco sara luca elena davide martina simone francesca"
    ),
}

LAST_NAMES: dict[str, tuple[str, ...]] = {
    "DE": _words(
        "mueller schmidt schneider fischer weber meyer wagner becker schulz hoffmann "
        "koch richter klein wolf neumann schwarz zimmermann braun krueger hartmann"
    ),
    "GB": _words(
        "smith jones taylor brown williams wilson johnson davies robinson wright "
        "thompson evans walker white roberts green hall wood jackson clarke"
    ),
    "FR": _words(
        "martin bernard dubois thomas robert richard petit durand leroy moreau simon "
        "laurent lefebvre michel garcia david bertrand roux vincent fournier"
    ),
    "NL": _words(
        "dejong jansen devries vandenberg vandijk bakker janssen visser smit meijer "
        "deboer mulder degroot bos vos peters hendriks vanleeuwen dekker brouwer"
    ),
    "US": _words(
        "smith johnson williams brown jones garcia miller davis rodriguez martinez "
        "hernandez lopez wilson anderson thomas taylor moore jackson martin lee"
    ),
    "ES": _words(
        "garcia rodriguez gonzalez fernandez lopez martinez sanchez perez gomez martin "
        "jimenez ruiz hernandez diaz moreno alvarez romero navarro torres dominguez"
    ),
    "IT": _words(
        "rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno "
        "gallo conti deluca mancini costa giordano rizzo lombardi moretti"
    ),
}

# Providers where throw-away accounts are opened in bulk, next to the big ones everybody uses.
BULK_EMAIL_DOMAINS: tuple[str, ...] = _words(
    "gmail.com outlook.com proton.me mail.com gmx.com yandex.com tutamail.com yopmail.com "
    "guerrillamail.com hotmail.com"
)

DEVICE_KINDS: tuple[str, ...] = ("ios", "android", "windows", "mac", "tablet")
MOBILE_KINDS: frozenset[int] = frozenset({0, 1})
DEVICE_SHARES: tuple[float, ...] = (0.30, 0.30, 0.22, 0.10, 0.08)

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_MOBILE = "Mobile Safari/537.36"
USER_AGENTS: dict[str, tuple[str, ...]] = {
    "ios": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "ShopApp/5.3.1 (iPhone15,2; iOS 18.1; Scale/3.00)",
    ),
    "android": (
        f"Mozilla/5.0 (Linux; Android 14; SM-S918B) {_WEBKIT} Chrome/131.0.0.0 {_MOBILE}",
        f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} Chrome/130.0.0.0 {_MOBILE}",
        f"Mozilla/5.0 (Linux; Android 13; SM-A536B) {_WEBKIT} Chrome/131.0.0.0 {_MOBILE}",
        "ShopApp/5.3.0 (Android 14; SM-S918B)",
    ),
    "windows": (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/131.0.0.0 Safari/537.36",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/131.0.0.0 Safari/537.36 "
        "Edg/131.0.0.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    "mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Safari/605.1.15",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT} Chrome/131.0.0.0 Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        f"Mozilla/5.0 (Linux; Android 13; SM-X710) {_WEBKIT} Chrome/131.0.0.0 Safari/537.36",
    ),
}

# What automation and emulator farms report; bots mostly copy ordinary agents instead.
BOT_USER_AGENTS: tuple[str, ...] = (
    f"Mozilla/5.0 (X11; Linux x86_64) {_WEBKIT} HeadlessChrome/131.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Linux; Android 11; sdk_gphone_x86) {_WEBKIT} Chrome/120.0.0.0 {_MOBILE}",
    f"Mozilla/5.0 (Linux; Android 9; SM-G973N Build/PQ3A.190605.003) {_WEBKIT} "
    f"Chrome/124.0.0.0 {_MOBILE}",
)
