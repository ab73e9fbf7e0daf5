"""The text rules a `smsgate.Message` keeps: what no phone can show is refused before any
request, with the character and its place named."""

from __future__ import annotations

import re

from smsgate.errors import ValidationError

__all__ = ["check_text", "check_unicode"]

# Characters no phone shows as text: C0 controls but tab, line feed and carriage return (GSM
# 03.38 has LF and CR; UCS-2 carries tabs), DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What shows nothing: white space, zero-width characters and joiners, direction marks and
# controls, the byte order mark, invisible fillers.
_INVISIBLE = re.compile(
    "[\\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0]"
)
# Direction controls (UAX #9): embeddings and overrides end at PDF (U+202C), isolates at PDI
# (U+2069), and a paragraph separator ends them all.
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")
_ISOLATES = frozenset("\u2066\u2067\u2068")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\n\r\u2029]")


def check_text(text: str) -> None:
    """Refuse text that no phone can show as written: control characters, lone surrogates,
    nothing visible at all, or a text-direction control left open (it turns the rest of
    the message around, or what the reader sees against what was sent)."""
    control = _CONTROL.search(text)
    if control is not None:
        raise ValidationError(
            "text",
            f"holds a control character (U+{ord(control.group()):04X}) at character "
            f"{control.start() + 1}: no phone shows one; only line breaks and tabs may appear",
        )
    if text.isascii():
        return
    check_unicode("text", text)
    if not _INVISIBLE.sub("", text):
        raise ValidationError(
            "text", "has no visible character (only spaces, zero-width or direction marks)"
        )
    opened: list[str] = []  # "E" an embedding or override, "I" an isolate
    for mark in _BIDI.finditer(text):
        char = mark.group()
        if char in _EMBEDDINGS:
            opened.append("E")
        elif char in _ISOLATES:
            opened.append("I")
        elif char == "\u202c":  # PDF ends the last embedding, not an isolate
            if opened and opened[-1] == "E":
                opened.pop()
        elif char == "\u2069":  # PDI ends the last isolate, and what was opened inside it
            if "I" in opened:
                while opened.pop() != "I":
                    pass
        else:  # a paragraph ends every direction opened in it
            opened.clear()
    if opened:
        raise ValidationError(
            "text",
            "leaves a text-direction control open (an override or isolate without its end): "
            "it would turn the rest of the message around on the phone",
        )


def check_unicode(field: str, value: str) -> None:
    """Refuse a lone surrogate (U+D800 to U+DFFF): no phone can show one, no provider can
    take one, and it cannot be written as UTF-8 anywhere a message is recorded."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            where, code = exc.start + 1, ord(value[exc.start])
            raise ValidationError(
                field,
                f"holds a lone surrogate at character {where} (U+{code:04X}), which is not "
                "text: was it decoded with errors='surrogateescape'?",
            ) from None
