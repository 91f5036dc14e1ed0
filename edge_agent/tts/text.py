"""From streamed LLM tokens to speakable clauses.

:class:`ClauseSplitter` cuts the token stream into clauses as soon as each is complete, so the
first clause reaches the voice while the model is still writing the rest: at a sentence end
(``. ! ?``), and at ``, ; :`` once the clause is at least ``min_chars`` long. Numbers such as
3.5, times such as 10:30 and abbreviations such as "Dr." or "e.g." are never cut.

:func:`speakable` turns written text into what a voice should say: markdown, emoji and URLs
dropped or shortened; numbers, currency, percentages, times, ordinals and common abbreviations
written out in words (Piper's phonemizer would otherwise read "$5" as "dollar five", and "**"
as nothing useful). English only, no dependencies.
"""

from __future__ import annotations

import re
import unicodedata

# --- numbers to words -----------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}


def _below_thousand(n: int) -> str:
    words = []
    if n >= 100:
        words.append(f"{_ONES[n // 100]} hundred")
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else ""))
    elif n:
        words.append(_ONES[n])
    return " ".join(words)


def number_to_words(n: int) -> str:
    """``1234 -> "one thousand two hundred thirty-four"``; negatives get "minus"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n >= 10**15:
        return digits_to_words(str(n))
    words = []
    for value, name in _SCALES:
        if n >= value:
            words.append(f"{_below_thousand(n // value)} {name}")
            n %= value
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """``21 -> "twenty-first"``."""
    words = number_to_words(n)
    head, sep, last = words.rpartition(" ")
    prefix, dash, unit = last.rpartition("-")
    if unit in _ORDINAL_IRREGULAR:
        unit = _ORDINAL_IRREGULAR[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return f"{head}{sep}{prefix}{dash}{unit}"


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time ("0 4 2" -> "zero four two")."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdigit())


def decimal_to_words(text: str) -> str:
    """``"3.14" -> "three point one four"``; ``"1,500" -> "one thousand five hundred"``."""
    whole, _, frac = text.replace(",", "").partition(".")
    spoken = number_to_words(int(whole or "0"))
    return f"{spoken} point {digits_to_words(frac)}" if frac else spoken


def year_to_words(n: int) -> str:
    """``1990 -> "nineteen ninety"``, ``2005 -> "two thousand five"``, ``2024 -> "twenty twenty-four"``."""
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return number_to_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return f"{number_to_words(hi)} hundred"
    return f"{number_to_words(hi)} {'oh ' + _ONES[lo] if lo < 10 else number_to_words(lo)}"


# --- speakable text --------------------------------------------------------------------------------

_ABBREVIATIONS = {
    "dr.": "doctor", "mr.": "mister", "mrs.": "missus", "ms.": "miz", "prof.": "professor",
    "jr.": "junior", "sr.": "senior", "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera",
    "vs.": "versus", "approx.": "approximately", "min.": "minutes", "max.": "maximum", "no.": "number",
    "ave.": "avenue", "mt.": "mount", "ft.": "feet", "dept.": "department", "inc.": "incorporated",
    "a.m.": "a m", "p.m.": "p m",
}
# Never end a clause on these (the dot is the abbreviation's, not a sentence end).
_NO_SPLIT_BEFORE_DOT = {a[:-1] for a in _ABBREVIATIONS if a not in {"etc.", "a.m.", "p.m.", "no.", "min.", "max."}} | {"st"}
_UNITS = {
    "km": "kilometers", "kg": "kilograms", "cm": "centimeters", "mm": "millimeters", "m": "meters",
    "g": "grams", "mph": "miles per hour", "km/h": "kilometers per hour", "kmh": "kilometers per hour",
    "mb": "megabytes", "gb": "gigabytes", "kb": "kilobytes", "ms": "milliseconds", "hz": "hertz",
    "khz": "kilohertz", "°c": "degrees Celsius", "°f": "degrees Fahrenheit", "°": "degrees",
    "lb": "pounds", "lbs": "pounds", "oz": "ounces", "h": "hours", "hrs": "hours", "mins": "minutes",
}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "", "")}
_SCALE_WORDS = "thousand|million|billion|trillion"

_URL = re.compile(r"\b(?:https?://|www\.)([\w.-]+)[^\s)\]>]*", re.IGNORECASE)
_MD_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)]*)\)")
_MD_FENCE = re.compile(r"```[\w-]*\n?|~~~")
_MD_LINE_PREFIX = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•][ \t]+|\d{1,3}[.)][ \t]+)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|~~|`)")
_MD_UNDERSCORE = re.compile(r"(?<!\w)_(?=\S)|(?<=\S)_(?!\w)")
_MD_RULE = re.compile(r"(?m)^[ \t]*(?:[-*_][ \t]*){3,}$")
_MD_TABLE_SEP = re.compile(r"(?m)^[ \t]*\|?[ \t:|-]+\|[ \t:|-]*$")

_CURRENCY_AMOUNT = re.compile(
    rf"([$€£¥])\s?(\d[\d,]*(?:\.\d+)?)(?:\s?({_SCALE_WORDS}|[kKmMbB]n?)\b)?")
_PERCENT = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)\s?%")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(?:\s?([aApP])\.?[mM]\.?\b)?")
_HOUR_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])\s?([aApP])\.?[mM]\b\.?")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_UNIT = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)\s?(km/h|°[CcFf]|°|[a-zA-Z]{1,4})(?![\w/])")
_NUMBER = re.compile(r"(?<![\w.])(-)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w])")
_ABBREV_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")(?=\s|$|[,;:!?)])",
    re.IGNORECASE)
_SAINT_OR_STREET = re.compile(r"\bSt\.(?=\s+[A-Z])|\bSt\.")
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "#": " number ", "~": " about "}


def is_emoji(ch: str) -> bool:
    cp = ord(ch)
    if cp in (0x200D, 0xFE0F, 0xFE0E, 0x20E3) or 0x1F3FB <= cp <= 0x1F3FF:
        return True  # joiners, variation selectors, keycaps, skin tones
    return unicodedata.category(ch) in ("So", "Cs", "Co") and ch not in "°©®™"


def strip_markdown(text: str) -> str:
    text = _MD_FENCE.sub("", text)
    text = _MD_IMAGE_OR_LINK.sub(lambda m: m.group(1), text)
    text = _MD_RULE.sub("", text)
    text = _MD_TABLE_SEP.sub("", text)
    text = _MD_LINE_PREFIX.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = _MD_UNDERSCORE.sub("", text)
    return text.replace("|", ", ")


def _url(m: re.Match[str]) -> str:
    host = m.group(1).lower().rstrip(".")
    host = host.removeprefix("www.")
    end = re.search(r"[.,;:!?]+$", m.group(0))  # a sentence's punctuation after the URL stays
    return (host.replace(".", " dot ") if host else "") + (end.group(0) if end else "")


def _currency(m: re.Match[str]) -> str:
    symbol, amount, scale = m.group(1), m.group(2).replace(",", ""), m.group(3)
    one, many, sub_one, sub_many = _CURRENCY[symbol]
    if scale:
        scale = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}.get(scale.lower(), scale.lower())
        return f"{decimal_to_words(amount)} {scale} {many}"
    whole, _, frac = amount.partition(".")
    units = int(whole or "0")
    words = f"{number_to_words(units)} {one if units == 1 else many}"
    if frac and sub_one:
        cents = int((frac + "0")[:2])
        if cents:
            words += f" and {number_to_words(cents)} {sub_one if cents == 1 else sub_many}"
    return words


def _time(m: re.Match[str]) -> str:
    hour, minute, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
    spoken = number_to_words(hour)
    if minute == 0:
        spoken += "" if ampm else " o'clock"
    elif minute < 10:
        spoken += f" oh {_ONES[minute]}"
    else:
        spoken += f" {number_to_words(minute)}"
    if ampm:
        spoken += f" {ampm.lower()} m"
    return spoken


def _unit(m: re.Match[str]) -> str:
    unit = _UNITS.get(m.group(2).lower())
    if unit is None:
        return m.group(0)
    value = m.group(1)
    if value.replace(",", "") in ("1", "-1"):
        unit = unit.removesuffix("s") if not unit.startswith("degrees") else unit.replace("degrees", "degree")
    return f"{_number_words(value)} {unit}"


def _number_words(text: str) -> str:
    negative = text.startswith("-")
    text = text.lstrip("-")
    spoken = decimal_to_words(text)
    return f"minus {spoken}" if negative else spoken


def _number(m: re.Match[str]) -> str:
    sign, whole, frac = m.group(1), m.group(2), m.group(3)
    if frac:
        spoken = decimal_to_words(whole + frac)
    elif "," not in whole and len(whole) > 1 and whole.startswith("0"):
        spoken = digits_to_words(whole)  # a code or a phone number: "007"
    elif "," not in whole and len(whole) >= 10:
        spoken = digits_to_words(whole)
    elif "," not in whole and len(whole) == 4 and (1100 <= int(whole) <= 1999 or 2010 <= int(whole) <= 2099):
        spoken = year_to_words(int(whole))
    else:
        spoken = number_to_words(int(whole.replace(",", "")))
    return f"minus {spoken}" if sign else spoken


def _abbreviation(m: re.Match[str]) -> str:
    spoken = _ABBREVIATIONS[m.group(1).lower()]
    return spoken[0].upper() + spoken[1:] if m.group(1)[0].isupper() and len(m.group(1)) > 2 else spoken


def speakable(text: str) -> str:
    """Written text -> the words a voice should say (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(_url, text)
    text = strip_markdown(text)
    text = re.sub(r"([^\s.,;:!?])[ \t]*\n+", r"\1, ", text)  # list items and lines: a pause between them
    text = "".join(ch for ch in text if not is_emoji(ch))
    text = _SAINT_OR_STREET.sub(lambda m: "Saint" if m.end() < len(text) and text[m.end():m.end() + 2].strip()[:1].isupper() else "Street", text)
    text = _CURRENCY_AMOUNT.sub(_currency, text)
    text = _PERCENT.sub(lambda m: f"{_number_words(m.group(1).replace(',', ''))} percent", text)
    text = _TIME.sub(_time, text)
    text = _HOUR_AMPM.sub(lambda m: f"{number_to_words(int(m.group(1)))} {m.group(2).lower()} m", text)
    text = _ORDINAL.sub(lambda m: ordinal_to_words(int(m.group(1))), text)
    text = _ABBREV_RE.sub(_abbreviation, text)
    text = _UNIT.sub(_unit, text)
    text = _NUMBER.sub(_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:")


# --- clause splitting ------------------------------------------------------------------------------

_WORD_BEFORE = re.compile(r"([\w.]+)$")


class ClauseSplitter:
    """Cut a stream of text deltas into clauses, each emitted as soon as it is complete.

    >>> s = ClauseSplitter()
    >>> s.feed("Sure. It is 3.5 degrees")
    ['Sure.']
    >>> s.feed(" today.") + s.flush()
    ['It is three point five degrees today.']

    A boundary is only known once the character after the punctuation arrives (a space or a
    newline): "3." may become "3.5". Clauses are passed through :func:`speakable` unless
    ``normalize=False``; clauses that are empty once spoken (an emoji, a markdown rule) are skipped.
    ``max_chars`` cuts a clause with no punctuation at a space so the voice never waits long."""

    def __init__(self, min_chars: int = 20, max_chars: int = 180, normalize: bool = True) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.normalize = normalize
        self._buf = ""
        self._scan = 0  # where to resume looking for a boundary

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            self._emit(self._buf[:cut], out)
            self._buf = self._buf[cut:].lstrip()
            self._scan = 0
        return out

    def flush(self) -> list[str]:
        """End of the stream: whatever is left is the last clause."""
        out: list[str] = []
        self._emit(self._buf, out)
        self._buf = ""
        self._scan = 0
        return out

    def reset(self) -> None:
        """Forget buffered text (barge-in)."""
        self._buf = ""
        self._scan = 0

    @property
    def pending(self) -> str:
        return self._buf

    def _emit(self, clause: str, out: list[str]) -> None:
        clause = clause.strip()
        if not clause:
            return
        if self.normalize:
            clause = speakable(clause)
            if not re.search(r"\w", clause):
                return
        out.append(clause)

    def _find_cut(self) -> int | None:
        buf = self._buf
        i = self._scan
        while i < len(buf) - 1:
            ch, nxt = buf[i], buf[i + 1]
            if ch == "\n" and buf[:i].strip():
                return i + 1  # a line break (paragraph, list item) ends a clause
            if nxt.isspace() or nxt in "\"')]*":
                if ch in ".!?…" and self._is_sentence_end(buf, i):
                    end = i + 1
                    while end < len(buf) and buf[end] in "\"')]*":
                        end += 1  # closing quote/bracket/emphasis belongs to this clause
                    if end < len(buf):
                        return end
                    return None  # wait to see what follows the closer
                if ch in ",;:" and len(buf[:i].strip()) >= self.min_chars:
                    return i + 1
            i += 1
        self._scan = max(0, len(buf) - 1)
        if len(buf) > self.max_chars:
            space = buf.rfind(" ", 0, self.max_chars)
            if space > self.min_chars:
                return space + 1
        return None

    def _is_sentence_end(self, buf: str, i: int) -> bool:
        if buf[i] != ".":
            return True
        if buf[buf.rfind("\n", 0, i) + 1 : i].strip().isdigit():
            return False  # a numbered list item ("2. Preheat the oven"), not a sentence
        m = _WORD_BEFORE.search(buf[: i + 1])
        word = m.group(1).lower().rstrip(".") if m else ""
        if word in _NO_SPLIT_BEFORE_DOT:
            return False
        if len(word) == 1 and word.isalpha() and buf[i - 1].isupper():
            return False  # an initial: "J. R. R. Tolkien"
        # "e.g", "u.s", "p.m" style: never taken as a clause end
        return not ("." in word and all(len(p) <= 1 for p in word.split(".")))
