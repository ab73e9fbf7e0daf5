"""A bulk file's text names its row's cells, and nothing else: ``Hi {name}``."""

import pytest

from smsgate.cli._template import Template, TemplateError, doubled_field, parse


@pytest.mark.parametrize(
    ("text", "cells", "written"),
    [
        (
            "Hi {name}, your code is {code}",
            {"name": "Ann", "code": "1234"},
            "Hi Ann, your code is 1234",
        ),
        ("{{literal}} and {name}", {"name": "Bob"}, "{literal} and Bob"),
        ("}}{{", {}, "}{"),
        ("{ name }", {"name": "Cy"}, "Cy"),  # spaces inside the braces are ignored
        ("{name}{name}", {"name": "Di"}, "DiDi"),
        ("no fields at all", {}, "no fields at all"),
        ("{first name}", {"first name": "Ed"}, "Ed"),  # a column's name may have spaces
        ("{x}", {"x": "{y}"}, "{y}"),  # a cell is not a template in turn
    ],
)
def test_a_template_is_filled_with_its_rows_cells(text, cells, written):
    assert parse(text).render(cells) == written


def test_a_template_lists_its_fields_once_each_in_order():
    assert parse("{b} {a} {b}").fields == ("b", "a")
    assert parse("plain").fields == ()
    assert parse("plain") == Template((("plain", None),), ())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi {name", "has a { that is not closed (character 4): write {{ for a brace"),
        ("Hi {", "has a { that is not closed (character 4): write {{ for a brace"),
        ("{a{b}c}", "has a { that is not closed (character 1): write {{ for a brace"),
        ("50% off}", "has a } with no { before it (character 8): write }} for a brace"),
        ("{a}}", "has a } with no { before it (character 4): write }} for a brace"),
        ("Hi {}", "has {}, which names no column: write {{}} for braces"),
        ("Hi {  }", "has {  }, which names no column: write {{}} for braces"),
        ("{0}", "has {0}: a field is a column's name, not a number"),
        # A nested format spec is no field either.
        ("{code:{width}}", "has a { that is not closed (character 1): write {{ for a brace"),
    ],
)
def test_braces_that_are_neither_doubled_nor_a_field_are_refused(text, problem):
    with pytest.raises(TemplateError) as caught:
        parse(text)

    assert str(caught.value) == problem


@pytest.mark.parametrize(
    "field",
    [
        "{user.__class__}",
        "{name.upper}",
        "{codes[0]}",
        "{name!r}",
        "{name!s}",
        "{name:>10}",
        "{name:%Y}",
    ],
)
def test_attributes_indexes_conversions_and_formats_are_refused(field):
    with pytest.raises(TemplateError) as caught:
        parse(f"Hi {field}")

    assert str(caught.value) == (
        f"has {field}: a field is a column's name only, without . [ ] ! or : (no attributes, "
        "indexes, conversions or formats)"
    )


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Hi {{name}} welcome", "{{name}}"),  # Mailchimp's merge tag
        ("Hi {{ name }}", "{{ name }}"),  # Jinja's
        ("{code} for {{name}}", "{{name}}"),
        ("{{other}} then {{name}}", "{{name}}"),
    ],
)
def test_a_columns_name_in_doubled_braces_is_found_as_it_is_written(text, written):
    assert doubled_field(text, ("to", "name", "code")) == (
        f"has {written}: a doubled brace is a literal brace, so it would go out as "
        f"{written[1:-1]}; for the cell of column name, write {{name}}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "Hi {name}",
        "{{{name}}}",  # the cell in braces
        "{{ {name} }}",
        "{{other}} and {{}}",  # not a column's name
        "{{na me}}",
        "50% off {{",
        "no braces",
    ],
)
def test_doubled_braces_around_anything_but_a_columns_name_are_a_brace(text):
    assert doubled_field(text, ("to", "name")) is None
