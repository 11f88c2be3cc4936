"""Countries, city centres, currencies and card BINs the simulated shop trades with."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class City:
    """A real city centre with its share of the country's customers and its UTC offset."""

    country: str
    name: str
    lat: float
    lon: float
    weight: float
    utc_offset: float


@dataclass(frozen=True)
class Country:
    """A country the shop ships to, or only one whose cards and addresses appear."""

    code: str
    share: float
    currency: str
    phone_prefix: str
    phone_digits: int
    email_domains: tuple[str, ...]


# Customers live in the first seven; the rest only issue cards used by fraudsters.
COUNTRIES: tuple[Country, ...] = (
    Country(
        "DE",
        0.30,
        "EUR",
        "+491",
        10,
        ("gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.de"),
    ),
    Country(
        "GB",
        0.17,
        "GBP",
        "+447",
        9,
        ("gmail.com", "hotmail.co.uk", "outlook.com", "btinternet.com"),
    ),
    Country(
        "FR",
        0.15,
        "EUR",
        "+336",
        8,
        ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net"),
    ),
    Country(
        "NL",
        0.08,
        "EUR",
        "+316",
        8,
        ("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.nl", "outlook.com"),
    ),
    Country(
        "US",
        0.18,
        "USD",
        "+1",
        10,
        ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"),
    ),
    Country(
        "ES", 0.06, "EUR", "+346", 8, ("gmail.com", "hotmail.es", "yahoo.es", "telefonica.net")
    ),
    Country("IT", 0.06, "EUR", "+393", 9, ("gmail.com", "libero.it", "hotmail.it", "virgilio.it")),
    Country("PL", 0.0, "PLN", "+485", 8, ("gmail.com", "wp.pl", "onet.pl")),
    Country("BR", 0.0, "BRL", "+5511", 9, ("gmail.com", "hotmail.com", "uol.com.br")),
    Country("CA", 0.0, "CAD", "+1", 10, ("gmail.com", "hotmail.com", "yahoo.ca")),
    Country("AU", 0.0, "AUD", "+614", 8, ("gmail.com", "bigpond.com", "outlook.com")),
    Country("TR", 0.0, "TRY", "+905", 9, ("gmail.com", "hotmail.com", "yandex.com")),
)
CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES)
HOME_CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES if c.share > 0)
# Euros per unit of each order currency is the inverse of these rates.
FX_PER_EUR: dict[str, float] = {"EUR": 1.0, "GBP": 0.85, "USD": 1.08}

CITIES: tuple[City, ...] = (
    City("DE", "Berlin", 52.5200, 13.4050, 3.7, 1),
    City("DE", "Hamburg", 53.5511, 9.9937, 1.9, 1),
    City("DE", "Munich", 48.1372, 11.5755, 1.5, 1),
    City("DE", "Cologne", 50.9375, 6.9603, 1.1, 1),
    City("DE", "Frankfurt", 50.1109, 8.6821, 0.8, 1),
    City("DE", "Stuttgart", 48.7758, 9.1829, 0.6, 1),
    City("DE", "Leipzig", 51.3397, 12.3731, 0.6, 1),
    City("DE", "Dresden", 51.0504, 13.7373, 0.55, 1),
    City("GB", "London", 51.5072, -0.1276, 9.0, 0),
    City("GB", "Birmingham", 52.4862, -1.8904, 1.1, 0),
    City("GB", "Manchester", 53.4808, -2.2426, 0.6, 0),
    City("GB", "Glasgow", 55.8642, -4.2518, 0.6, 0),
    City("GB", "Leeds", 53.8008, -1.5491, 0.8, 0),
    City("GB", "Bristol", 51.4545, -2.5879, 0.5, 0),
    City("FR", "Paris", 48.8566, 2.3522, 2.1, 1),
    City("FR", "Marseille", 43.2965, 5.3698, 0.9, 1),
    City("FR", "Lyon", 45.7640, 4.8357, 0.5, 1),
    City("FR", "Toulouse", 43.6047, 1.4442, 0.5, 1),
    City("FR", "Nantes", 47.2184, -1.5536, 0.3, 1),
    City("FR", "Lille", 50.6292, 3.0573, 0.25, 1),
    City("NL", "Amsterdam", 52.3676, 4.9041, 0.9, 1),
    City("NL", "Rotterdam", 51.9244, 4.4777, 0.65, 1),
    City("NL", "The Hague", 52.0705, 4.3007, 0.55, 1),
    City("NL", "Utrecht", 52.0907, 5.1214, 0.36, 1),
    City("NL", "Eindhoven", 51.4416, 5.4697, 0.24, 1),
    City("US", "New York", 40.7128, -74.0060, 8.3, -5),
    City("US", "Los Angeles", 34.0522, -118.2437, 3.9, -8),
    City("US", "Chicago", 41.8781, -87.6298, 2.7, -6),
    City("US", "Houston", 29.7604, -95.3698, 2.3, -6),
    City("US", "Phoenix", 33.4484, -112.0740, 1.6, -7),
    City("US", "Seattle", 47.6062, -122.3321, 0.75, -8),
    City("US", "Miami", 25.7617, -80.1918, 0.45, -5),
    City("US", "Denver", 39.7392, -104.9903, 0.7, -7),
    City("ES", "Madrid", 40.4168, -3.7038, 3.3, 1),
    City("ES", "Barcelona", 41.3874, 2.1686, 1.6, 1),
    City("ES", "Valencia", 39.4699, -0.3763, 0.8, 1),
    City("ES", "Seville", 37.3891, -5.9845, 0.7, 1),
    City("IT", "Rome", 41.9028, 12.4964, 2.8, 1),
    City("IT", "Milan", 45.4642, 9.1900, 1.4, 1),
    City("IT", "Naples", 40.8518, 14.2681, 0.9, 1),
    City("IT", "Turin", 45.0703, 7.6869, 0.85, 1),
    City("PL", "Warsaw", 52.2297, 21.0122, 1.0, 1),
    City("BR", "Sao Paulo", -23.5505, -46.6333, 1.0, -3),
    City("CA", "Toronto", 43.6532, -79.3832, 1.0, -5),
    City("AU", "Sydney", -33.8688, 151.2093, 1.0, 10),
    City("TR", "Istanbul", 41.0082, 28.9784, 1.0, 3),
)


def country(code: str) -> Country:
    """Return the country with this ISO code."""
    return COUNTRIES[CODES.index(code)]


def home_shares() -> npt.NDArray[np.float64]:
    """Return the share of customers living in each of HOME_CODES."""
    shares: npt.NDArray[np.float64] = np.array([country(code).share for code in HOME_CODES])
    normalised: npt.NDArray[np.float64] = shares / shares.sum()
    return normalised


@cache
def _city_table() -> tuple[Array, Array, Array, Array, Array]:
    codes = np.array([c.country for c in CITIES], dtype=object)
    lat = np.array([c.lat for c in CITIES])
    lon = np.array([c.lon for c in CITIES])
    offset = np.array([c.utc_offset for c in CITIES])
    weight = np.array([c.weight for c in CITIES])
    return codes, lat, lon, offset, weight


def pick_cities(rng: np.random.Generator, countries: Array) -> Array:
    """Return a population-weighted city index for each country code given."""
    codes, _, _, _, weight = _city_table()
    out = np.empty(len(countries), dtype=np.int64)
    for code in np.unique(countries):
        rows = np.flatnonzero(countries == code)
        candidates = np.flatnonzero(codes == code)
        p = weight[candidates] / weight[candidates].sum()
        out[rows] = candidates[rng.choice(len(candidates), size=len(rows), p=p)]
    return out


def city_coordinates(cities: Array) -> tuple[Array, Array]:
    """Return the latitude and longitude of each city index."""
    _, lat, lon, _, _ = _city_table()
    return lat[cities], lon[cities]


def city_offsets(cities: Array) -> Array:
    """Return the UTC offset in hours of each city index."""
    return _city_table()[3][cities]


def city_countries(cities: Array) -> Array:
    """Return the country code of each city index."""
    return _city_table()[0][cities]


@cache
def bin_pool(code: str) -> tuple[str, ...]:
    """Return the card BINs this simulation attributes to issuers in one country."""
    # Seeded by the country alone so a BIN means the same country in every simulated data set.
    rng = np.random.default_rng(zlib.crc32(code.encode()))
    visa = [f"4{rng.integers(0, 100_000):05d}" for _ in range(8)]
    mastercard = [f"5{rng.integers(1, 6)}{rng.integers(0, 10_000):04d}" for _ in range(6)]
    return tuple(visa + mastercard)


def other_country(rng: np.random.Generator, codes: Array) -> Array:
    """Return, for each home country code, a different home country."""
    choices = np.array(HOME_CODES, dtype=object)
    position = np.zeros(len(codes), dtype=np.int64)
    for i, code in enumerate(HOME_CODES):
        position[codes == code] = i
    shift = rng.integers(1, len(choices), size=len(codes))
    other: Array = choices[(position + shift) % len(choices)]
    return other
