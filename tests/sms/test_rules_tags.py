"""The tag language: parsing once, rendering values as plain text, every error named."""

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from sms.rules import RuleError
from sms.rules.text import normalise_text
from sms.tags import TAGS, TAGS_BY_PATH, MessageTemplate, Slot, TemplateError, parse_template

ROW = {
    "first_name": "Anna",
    "last_name": "Virtanen",
    "title": "CEO",
    "email": "anna@example.fi",
    "city": "Tampere",
    "account__name": "Acme Oy",
    "account__city": "Helsinki",
    "account__industry": "Retail",
}


def render(body: str, values: dict[str, object] | None = None) -> str:
    return parse_template(body).render(ROW if values is None else values)


def test_whitelist() -> None:
    assert [tag.path for tag in TAGS] == [
        "contact.first_name",
        "contact.last_name",
        "contact.full_name",
        "contact.title",
        "contact.email",
        "contact.city",
        "account.name",
        "account.city",
        "account.industry",
    ]
    with translation.override("en"):
        assert {str(tag.group) for tag in TAGS} == {"Contact", "Account"}
        assert str(TAGS_BY_PATH["contact.first_name"].label) == "First name"
    assert TAGS_BY_PATH["account.name"].token == "{{account.name}}"
    # Columns are ORM paths from Contact; nothing reaches an account's phone.
    assert all("phone" not in column for tag in TAGS for column in tag.columns)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hei {{contact.first_name}}!", "Hei Anna!"),
        ("Hei {{ contact.first_name }}!", "Hei Anna!"),
        ("Hei {{\tcontact.first_name  }}!", "Hei Anna!"),
        ("{{contact.full_name}}, {{contact.title}}", "Anna Virtanen, CEO"),
        (
            "{{account.name}} / {{account.city}} / {{account.industry}}",
            "Acme Oy / Helsinki / Retail",
        ),
        (
            "{{contact.email}} {{contact.city}} {{contact.last_name}}",
            "anna@example.fi Tampere Virtanen",
        ),
        ("{{contact.first_name}}{{contact.first_name}}", "AnnaAnna"),
        ("Hei {{contact.first_name|ystävä}}", "Hei Anna"),  # fallback unused when filled
        ("Plain text, { single } braces {ok}", "Plain text, { single } braces {ok}"),
        ("Rivi 1\r\nRivi 2\rRivi 3", "Rivi 1\nRivi 2\nRivi 3"),
    ],
)
def test_render(body: str, expected: str) -> None:
    assert render(body) == expected


@pytest.mark.parametrize("empty", [None, "", "   ", "\n"])
def test_fallback_for_empty_values(empty: object) -> None:
    row = {**ROW, "first_name": empty}
    assert render("Hei {{contact.first_name|ystävä}}!", row) == "Hei ystävä!"
    assert render("Hei {{ contact.first_name | hyvä asiakas }}!", row) == "Hei hyvä asiakas!"
    assert render("Hei {{contact.first_name}}!", row) == "Hei !"


def test_missing_column_renders_as_empty() -> None:
    assert render("Hei {{contact.first_name}}!", {}) == "Hei !"
    assert render("Hei {{contact.first_name|Åsa}}!", {}) == "Hei Åsa!"


def test_full_name_joins_what_is_there() -> None:
    template = parse_template("{{contact.full_name|asiakas}}")
    assert template.render({"first_name": "Anna", "last_name": ""}) == "Anna"
    assert template.render({"first_name": None, "last_name": "Virtanen"}) == "Virtanen"
    assert template.render({"first_name": " ", "last_name": None}) == "asiakas"


def test_values_are_stripped_and_normalised() -> None:
    row = {"first_name": "  Anna\r\nMaria  "}
    assert render("Hei {{contact.first_name}}!", row) == "Hei Anna\nMaria!"


def test_non_text_values_are_written_as_text() -> None:
    assert render("{{account.industry}}", {"account__industry": 42}) == "42"


@pytest.mark.parametrize(
    "value",
    [
        "{{contact.email}}",
        "{{contact.shoe_size}}",
        "{{",
        "}}",
        "{{contact.first_name|x}}",
        "<b>bold</b>",
        "<script>alert(1)</script>",
        "%s %(name)s {0}",
    ],
)
def test_values_are_never_parsed(value: str) -> None:
    row = {**ROW, "first_name": value}
    assert render("Hei {{contact.first_name}} ({{contact.email}})", row) == (
        f"Hei {value} (anna@example.fi)"
    )


def test_columns_are_what_the_tags_read() -> None:
    template = parse_template("{{contact.full_name}} {{account.name|-}} {{contact.first_name}}")
    assert template.columns == {"first_name", "last_name", "account__name"}
    assert [tag.path for tag in template.tags] == [
        "contact.full_name",
        "account.name",
        "contact.first_name",
    ]
    assert parse_template("No tags").columns == frozenset()


def test_parse_once_into_parts() -> None:
    template = parse_template("Hei {{ contact.first_name | ystävä }}!\r\n")
    first = TAGS_BY_PATH["contact.first_name"]
    assert template.parts == ("Hei ", Slot(first, "ystävä"), "!\n")
    assert template.source == "Hei {{ contact.first_name | ystävä }}!\n"
    assert template.static_chars == len("Hei !\n")


@pytest.mark.parametrize(
    ("body", "code", "tag", "message"),
    [
        (
            "Hei {{contact.shoe_size}}",
            "unknown_tag",
            "{{contact.shoe_size}}",
            "Unknown tag {{contact.shoe_size}}. Choose a tag from the list.",
        ),
        ("{{ first_name }}", "unknown_tag", "{{ first_name }}", None),
        ("{{Contact.First_Name}}", "unknown_tag", "{{Contact.First_Name}}", None),
        ("{{account.phone}}", "unknown_tag", "{{account.phone}}", None),
        ("{{contact.mobile_phone}}", "unknown_tag", "{{contact.mobile_phone}}", None),
        (
            "{{contact.account.name}}",
            "tag_too_deep",
            "{{contact.account.name}}",
            "“{{contact.account.name}}” reaches beyond the tags you can use. "
            "Choose a tag from the list, such as {{account.name}}.",
        ),
        ("{{account.name.upper}}", "tag_too_deep", "{{account.name.upper}}", None),
        ("{{contact.first_name.__class__}}", "tag_too_deep", None, None),
        (
            "Hei {{contact.first_name",
            "unclosed_tag",
            "{{contact.first_name",
            "The tag “{{contact.first_name” is not closed. End it with }}.",
        ),
        ("Hei {{contact.first_name}\nterve", "unclosed_tag", "{{contact.first_name}", None),
        ("{{contact.first_name}} ja {{", "unclosed_tag", "{{", None),
        (
            "Hei }} there",
            "unopened_tag",
            "}}",
            "“Hei }}” closes a tag that was never opened. Remove the }}.",
        ),
        ("{{contact.first_name}}}}", "unopened_tag", "}}", None),
        ("Hei {contact.first_name}}", "unopened_tag", "}}", None),
        ("{{}}", "empty_tag", "{{}}", "“{{}}” is an empty tag. Choose a tag from the list."),
        ("{{   }}", "empty_tag", "{{   }}", None),
        ("{{|ystävä}}", "empty_tag", "{{|ystävä}}", None),
        (
            "{{{contact.first_name}}}",
            "nested_tag",
            "{{{contact.first_name}}",
            "“{{{contact.first_name}}” has braces inside a tag. "
            "Write a tag as {{contact.first_name}}.",
        ),
        ("{{contact.{{account.name}}}}", "nested_tag", "{{contact.{{account.name}}", None),
        ("{{contact.first_name|a}b}}", "nested_tag", "{{contact.first_name|a}b}}", None),
        ("{{contact.first name}}", "malformed_tag", "{{contact.first name}}", None),
        ("{{contact.first_name()}}", "malformed_tag", "{{contact.first_name()}}", None),
        ("{{contact['first_name']}}", "malformed_tag", None, None),
        ("{{ contact.first_name! }}", "malformed_tag", None, None),
        (
            "{{contact.first_name|upper|ystävä}}",
            "bad_fallback",
            "{{contact.first_name|upper|ystävä}}",
            "“{{contact.first_name|upper|ystävä}}” has more than one |. "
            "A tag takes one fallback, after one |.",
        ),
        (
            "{{contact.first_name| }}",
            "empty_fallback",
            "{{contact.first_name| }}",
            "“{{contact.first_name| }}” has an empty fallback. "
            "Write a word after |, or remove the |.",
        ),
    ],
)
def test_template_errors_name_the_tag(
    body: str, code: str, tag: str | None, message: str | None
) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(body)
    error = caught.value
    assert isinstance(error, RuleError)
    assert (error.code, error.field) == (code, "body")
    assert error.extra == {"tag": error.tag}
    if tag is not None:
        assert error.tag == tag
    if message is not None:
        assert error.message == message
    assert error.tag in error.message or error.tag == "}}"


def test_unclosed_tag_excerpt_is_short() -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template("Hei {{contact.first_name " + "x" * 100)
    assert caught.value.tag == "{{contact.first_name " + "x" * 9 + "…"  # 30 characters


# --- Properties ------------------------------------------------------------------------

# Text that holds no tag: no "{{" or "}}" anywhere, and no brace at either end that
# could pair with a neighbour.
tagless = st.text().filter(lambda s: "{" not in s and "}" not in s)
values = st.one_of(st.none(), st.text(), st.integers())


@given(st.text().filter(lambda s: "{{" not in s and "}}" not in s))
def test_template_without_tags_renders_unchanged(body: str) -> None:
    template = parse_template(body)
    assert template.render({}) == normalise_text(body)
    assert template.render(ROW) == normalise_text(body)
    assert template.columns == frozenset()


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str | tuple[str, str | None]]]:
    """A body built from literal text and tags, and the pieces it was built from."""
    pieces: list[str | tuple[str, str | None]] = []
    for _ in range(draw(st.integers(0, 5))):
        pieces.append(draw(tagless))
        path = draw(st.sampled_from([tag.path for tag in TAGS]))
        fallback = draw(
            st.one_of(
                st.none(),
                st.text(min_size=1).filter(lambda s: s.strip() and not set(s) & set("{}|\r")),
            )
        )
        pieces.append((path, fallback))
    pieces.append(draw(tagless))
    body = ""
    for piece in pieces:
        if isinstance(piece, str):
            body += piece
        else:
            path, fallback = piece
            body += "{{" + path + ("" if fallback is None else "|" + fallback) + "}}"
    return body, pieces


def expected_value(path: str, fallback: str | None, row: dict[str, object]) -> str:
    def text(column: str) -> str:
        value = row.get(column)
        return "" if value is None else normalise_text(str(value).strip())

    columns = TAGS_BY_PATH[path].columns
    value = " ".join(t for t in (text(c) for c in columns) if t)
    if not value and fallback is not None:
        return fallback.strip()
    return value


@given(templates(), st.dictionaries(st.sampled_from(sorted(ROW)), values))
def test_render_is_literals_plus_values(
    built: tuple[str, list[str | tuple[str, str | None]]], row: dict[str, object]
) -> None:
    body, pieces = built
    template = parse_template(body)
    expected = "".join(
        normalise_text(piece) if isinstance(piece, str) else expected_value(*piece, row)
        for piece in pieces
    )
    assert template.render(row) == expected


@given(st.text())
def test_parse_never_fails_but_with_a_template_error(body: str) -> None:
    try:
        template = parse_template(body)
    except TemplateError as error:
        assert error.message
    else:
        assert isinstance(template, MessageTemplate)
        template.render(ROW)
