"""Text from files is data, never terminal control: :func:`printable` for every string a
model file, a CSV or a TOML supplies before it reaches a terminal.

>>> printable("cat\\x1b]0;pwned\\x07\\x1b[2J")
'cat'
>>> printable("tab\\there, new\\nline")
'tab here, new line'
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL or ST)
# and two-byte escapes; then the 8-bit forms (C1 CSI 0x9b, OSC 0x9d, ...). A string with no BEL/ST
# loses only its introducer (as a lone ESC x or C1 character): the text after it stays, so that a
# message quoting a name that starts with 0x98 is not emptied (found by the CLI fuzz test).
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"                       # CSI
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c)"           # OSC, DCS, SOS, PM, APC up to BEL/ST
    r"|\x1b[ -/]*[0-~]?"                              # other escapes (ESC c, ESC ( B, ...)
    r"|\x9b[0-?]*[ -/]*[@-~]?"                        # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|\x1b\\)",  # 8-bit DCS, SOS, OSC, PM, APC up to BEL/ST
    re.DOTALL)
# what is left of C0 (but tab and newline, which become spaces), DEL, C1, and the bidirectional
# overrides/isolates that can make a terminal show text in another order than it is
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[\t\n\r]")


def printable(text, limit: int | None = None) -> str:
    """``text`` (any object, through ``str``) without escape sequences or control characters.

    Tabs and line breaks become spaces; a lone surrogate (from a non-UTF-8 file name) becomes
    ``\\udcxx`` text. ``limit`` cuts the result to that many characters (with ``...``).
    """
    s = str(text)
    s = _SEQUENCES.sub("", s)
    s = _SPACES.sub(" ", s)
    s = _CONTROL.sub("", s)
    if any("\ud800" <= ch <= "\udfff" for ch in s):
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is not None and len(s) > limit:
        s = s[:max(limit - 3, 0)] + "..."
    return s
