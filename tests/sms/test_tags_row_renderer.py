"""``MessageTemplate.row_renderer`` renders a tuple row exactly as ``render`` renders
the same values as a mapping."""

from hypothesis import given
from hypothesis import strategies as st

from sms.tags import TAGS, parse_template

COLUMNS = sorted({c for tag in TAGS for c in tag.columns})
VALUES = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["", "  ", "a\r\nb", " Åsa "]))
PIECES = st.one_of(
    st.sampled_from([tag.token for tag in TAGS]),
    st.sampled_from(["{{contact.first_name|ystävä}}", "{{ account.name | - }}"]),
    st.text(alphabet=st.characters(blacklist_characters="{}|"), max_size=10),
)


@given(
    pieces=st.lists(PIECES, max_size=6),
    values=st.lists(VALUES, min_size=len(COLUMNS), max_size=len(COLUMNS)),
)
def test_row_renderer_equals_render(pieces, values):
    template = parse_template("".join(pieces))
    row = (42, *values)
    positions = {column: i + 1 for i, column in enumerate(COLUMNS)}
    mapping = dict(zip(COLUMNS, values, strict=True))
    assert template.row_renderer(positions)(row) == template.render(mapping)


def test_row_renderer_without_tags_is_the_text():
    template = parse_template("Hei\r\nkaikki")
    assert template.row_renderer({})(()) == "Hei\nkaikki"


@given(
    pieces=st.lists(PIECES, max_size=6),
    values=st.lists(VALUES, min_size=len(COLUMNS), max_size=len(COLUMNS)),
)
def test_row_length_is_the_rendered_length(pieces, values):
    template = parse_template("".join(pieces) + "100 % sure")
    row = (42, *values)
    positions = {column: i + 1 for i, column in enumerate(COLUMNS)}
    rendered = template.render(dict(zip(COLUMNS, values, strict=True)))
    assert template.row_renderer(positions)(row) == rendered
    assert template.row_length(positions)(row) == len(rendered)
