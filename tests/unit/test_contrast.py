"""The page colors meet WCAG AA in the light and the dark scheme, as authara.css declares them.

The stylesheet is read the way a browser applies it, for the pairs that matter: the rule of a
selector (its declarations in order, the dark scheme's `@media (prefers-color-scheme: dark)`
ones last), `var(--x)` resolved against that scheme's `:root`, and `color-mix(in srgb, C p%,
transparent)` laid over the surface under it. Text needs 4.5:1 (WCAG 1.4.3); the focus ring
and the boundaries of inputs and outlined buttons need 3:1 (1.4.11). A change of a custom
property, or of which property a rule uses, that breaks a pair fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

CSS: Final = Path(__file__).parents[2] / "services/core/authara_core/static/authara.css"
DARK_MEDIA: Final = "(prefers-color-scheme: dark)"
SCHEMES: Final = ("light", "dark")
TEXT: Final = 4.5
NON_TEXT: Final = 3.0

Rgba = tuple[float, float, float, float]
Rule = tuple[str, list[str], dict[str, str]]  # (media, selectors, declarations)


def _rules(css: str) -> list[Rule]:
    """Return every style rule with the media query around it ("" outside any)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    found: list[Rule] = []
    for match in re.finditer(
        r"@media\s*([^{]+)\{((?:[^{}]*\{[^{}]*\})*)\s*\}|([^{}@]+)\{([^{}]*)\}", css
    ):
        if match.group(3) is not None:
            found.append(_rule("", match.group(3), match.group(4)))
            continue
        for inner in re.finditer(r"([^{}]+)\{([^{}]*)\}", match.group(2)):
            found.append(_rule(match.group(1).strip(), inner.group(1), inner.group(2)))
    return found


def _rule(media: str, selectors: str, body: str) -> Rule:
    declarations = {}
    for declaration in body.split(";"):
        name, colon, value = declaration.partition(":")
        if colon:
            declarations[name.strip()] = value.strip()
    return media, [s.strip() for s in selectors.split(",")], declarations


RULES: Final = _rules(CSS.read_text())


def _applies(media: str, scheme: str) -> bool:
    return media == "" or (media == DARK_MEDIA and scheme == "dark")


def _declared(selector: str, scheme: str) -> dict[str, str]:
    """Return what the rules naming exactly `selector` declare, later rules winning."""
    merged: dict[str, str] = {}
    for media, selectors, declarations in RULES:
        if selector in selectors and _applies(media, scheme):
            merged.update(declarations)
    return merged


def _hex(value: str) -> Rgba:
    digits = value.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", digits), f"not a color: {value}"
    red, green, blue = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return red, green, blue, 1.0


def _color(value: str, scheme: str) -> Rgba:
    """Resolve a color value: #hex, transparent, var(--x), color-mix(in srgb, C p%, transparent)."""
    properties = _declared(":root", scheme)
    value = value.strip()
    if value == "transparent":
        return 0.0, 0.0, 0.0, 0.0
    if variable := re.fullmatch(r"var\((--[\w-]+)\)", value):
        assert variable.group(1) in properties, f"{variable.group(1)} is not set in {scheme}"
        return _color(properties[variable.group(1)], scheme)
    if mix := re.fullmatch(r"color-mix\(in srgb, (.+) (\d+)%, transparent\)", value):
        red, green, blue, _ = _color(mix.group(1), scheme)
        return red, green, blue, int(mix.group(2)) / 100
    return _hex(value)


def _property(selector: str, name: str, scheme: str) -> Rgba:
    """The color a rule gives `name`; for a border or outline shorthand, its color part."""
    declared = _declared(selector, scheme)
    assert name in declared, f"{selector} sets no {name}"
    value = declared[name]
    if name in ("border", "outline"):
        value = value.split()[-1]
    return _color(value, scheme)


def _over(top: Rgba, under: Rgba) -> Rgba:
    alpha = top[3]
    pairs = zip(top[:3], under[:3], strict=True)
    red, green, blue = (alpha * t + (1 - alpha) * u for t, u in pairs)
    return red, green, blue, 1.0


def _luminance(color: Rgba) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in color[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: Rgba, other: Rgba) -> float:
    """The WCAG 2 contrast ratio of two opaque colors."""
    lighter, darker = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _surface(name: str, scheme: str) -> Rgba:
    return {
        "page": _property("body", "background", scheme),
        "card": _property(".card", "background", scheme),
    }[name]


# (what, foreground (selector, property), background (selector, property) or a surface, minimum)
PAIRS: Final = [
    ("body text on the card", ("body", "color"), "card", TEXT),
    ("footer on the page", ("footer", "color"), "page", TEXT),
    ("hint on the card", (".hint", "color"), "card", TEXT),
    ("link on the card", ("a", "color"), "card", TEXT),
    ("link on the page", ("a", "color"), "page", TEXT),
    ("focus ring on the card", ("button:focus-visible", "outline"), "card", NON_TEXT),
    ("focus ring on the page", ("a:focus-visible", "outline"), "page", NON_TEXT),
    ("input focus ring on the card", ("input:focus", "outline"), "card", NON_TEXT),
    ("input border on the card", ("input[type=password]", "border"), "card", NON_TEXT),
    ("secondary button border", ("button.secondary", "border"), "card", NON_TEXT),
    ("provider button border", (".provider", "border"), "card", NON_TEXT),
    ("password toggle border", (".password-toggle", "border"), "card", NON_TEXT),
    ("password toggle text", (".password-toggle", "color"), "card", TEXT),
    ("primary button's boundary", ("button", "background"), "card", NON_TEXT),
    ("field error on the card", (".field-error", "color"), "card", TEXT),
    ("error toast text", (".toast", "color"), "card", TEXT),
    ("error toast border", (".toast", "border"), "card", NON_TEXT),
    ("success toast border", (".toast.ok", "border-color"), "card", NON_TEXT),
]
# (what, text (selector, property), its background (selector, property), laid on this surface)
ON_FILLS: Final = [
    ("button text on the button", ("button", "color"), ("button", "background"), "card"),
    ("link button text", ("a.button", "color"), ("a.button", "background"), "card"),
    ("danger button text", ("button.danger", "color"), ("button.danger", "background"), "card"),
    ("alert text on its tint", (".alert", "color"), (".alert", "background"), "card"),
    ("success alert text", (".alert.ok", "color"), (".alert.ok", "background"), "card"),
    ("notice text on its tint", ("body", "color"), (".notice", "background"), "card"),
    ("badge text on its tint", ("body", "color"), (".badge", "background"), "card"),
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    ("what", "foreground", "surface", "minimum"), PAIRS, ids=[p[0] for p in PAIRS]
)
def test_a_color_stands_out_from_the_surface_under_it(
    scheme: str, what: str, foreground: tuple[str, str], surface: str, minimum: float
) -> None:
    under = _surface(surface, scheme)
    ratio = contrast(_over(_property(*foreground, scheme), under), under)
    assert ratio >= minimum, f"{what} ({scheme}): {ratio:.2f}:1 < {minimum}:1"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    ("what", "text", "fill", "surface"), ON_FILLS, ids=[f[0] for f in ON_FILLS]
)
def test_text_on_a_filled_element_is_readable(
    scheme: str, what: str, text: tuple[str, str], fill: tuple[str, str], surface: str
) -> None:
    background = _over(_property(*fill, scheme), _surface(surface, scheme))
    ratio = contrast(_over(_property(*text, scheme), background), background)
    assert ratio >= TEXT, f"{what} ({scheme}): {ratio:.2f}:1 < {TEXT}:1"


def test_the_ratio_is_computed_as_wcag_defines_it() -> None:
    black, white = _hex("#000"), _hex("#ffffff")
    assert contrast(black, white) == pytest.approx(21.0)
    assert contrast(white, white) == pytest.approx(1.0)
    assert contrast(_hex("#777777"), white) == pytest.approx(4.48, abs=0.01)


def test_every_color_is_a_custom_property_with_a_dark_value_too() -> None:
    light = {n for m, s, d in RULES if m == "" and s == [":root"] for n in d if n.startswith("--")}
    dark = {n for m, s, d in RULES if m == DARK_MEDIA and s == [":root"] for n in d}
    assert dark == light
    for _, selectors, declarations in RULES:
        for name, value in declarations.items():
            if selectors != [":root"]:
                assert not re.search(r"#[0-9a-fA-F]{3,6}\b", value), f"{selectors} {name}: {value}"


def test_the_parser_reads_every_rule_of_the_stylesheet() -> None:
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.DOTALL)
    media = re.findall(r"@media\s*([^{]+)\{", css)
    assert css.count("{") == len(RULES) + len(media)
    assert DARK_MEDIA in {m.strip() for m in media}
