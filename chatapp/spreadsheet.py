"""CSV cells that a spreadsheet will not run: a text cell that begins like a formula
(=, +, -, @, or a tab or carriage return before one) is written with a leading
apostrophe, so that `=HYPERLINK(...)` in a title or a prompt stays text (OWASP's advice
on CSV injection). Numbers are written as they are."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe_cell(value) for value in values]
