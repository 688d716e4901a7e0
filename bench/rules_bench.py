"""How fast the pure message rules are, for a preview of 100,000 recipients.

Run: ``python -m bench.rules_bench [N]``. Prints figures and ratios against
baselines measured in the same run; asserts nothing about time.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from sms.rules.numbers import _normalise_number, normalise_number, normalise_number_uncached  # noqa: E402
from sms.rules.text import billed_messages, char_count, encoding_info  # noqa: E402
from sms.tags import parse_template  # noqa: E402

FIRST_NAMES = ["Anna", "Matti", "Aino", "Juha", "Päivi", "Jyrki", "Sanna", "Ville", "", "Åsa"]
ACCOUNTS = ["Acme Oy", "Kesko Oyj", "Pikkukauppa Ky", "Ääni & Kuva Oy", "Firma {x} Oy"]


def finnish_numbers(n: int, rng: random.Random) -> list[str]:
    """Distinct-ish numbers as people type them: mostly valid mobiles with +358,
    some 00358, some without country code, some blank or broken."""
    out = []
    for _ in range(n):
        prefix = rng.choice(["40", "41", "44", "45", "50", "46", "9"])
        digits = "".join(rng.choice("0123456789") for _ in range(7))
        kind = rng.random()
        if kind < 0.55:
            out.append(f"+358 {prefix} {digits[:3]} {digits[3:]}")
        elif kind < 0.70:
            out.append(f"+358{prefix}{digits}")
        elif kind < 0.78:
            out.append(f"00358 {prefix} {digits}")
        elif kind < 0.90:
            out.append(f"0{prefix} {digits[:3]} {digits[3:]}")
        elif kind < 0.95:
            out.append("")
        else:
            out.append(f"+358 {prefix} {digits[:2]}")
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(n: int = 100_000) -> None:
    rng = random.Random(4)
    numbers = finnish_numbers(n, rng)
    rows = [
        {"first_name": rng.choice(FIRST_NAMES), "account__name": rng.choice(ACCOUNTS)}
        for _ in range(n)
    ]
    print(f"Pure message rules, {n:,} recipients ({len(set(numbers)):,} distinct numbers)")

    # --- Phone numbers ---------------------------------------------------------
    uncached = timed(lambda: [normalise_number_uncached(x) for x in numbers])
    _normalise_number.cache_clear()
    cold = timed(lambda: [normalise_number(x) for x in numbers])
    warm = timed(lambda: [normalise_number(x) for x in numbers])
    baseline = timed(lambda: [x.strip() for x in numbers])
    print("\nnormalise_number")
    print(f"  without cache      {uncached:7.3f} s  ({uncached / n * 1e6:5.1f} µs/number)")
    print(f"  cache, first run   {cold:7.3f} s")
    print(f"  cache, again       {warm:7.3f} s  ({uncached / warm:5.0f}x faster than no cache)")
    print(f"  baseline str.strip {baseline:7.3f} s")
    info = _normalise_number.cache_info()
    print(f"  cache: {info.currsize:,} entries of at most {info.maxsize:,}")

    # --- Rendering --------------------------------------------------------------
    body = "Hei {{contact.first_name|ystävä}}! {{account.name}} kutsuu sinut tilaisuuteen."
    template = parse_template(body)
    fmt = "Hei {first_name}! {account__name} kutsuu sinut tilaisuuteen."
    render = template.render
    ours = timed(lambda: [render(row) for row in rows])
    fmt_time = timed(lambda: [fmt.format_map(row) for row in rows])
    parse = timed(lambda: [parse_template(body) for _ in range(1000)]) / 1000
    print("\nrender a 2-tag template")
    print(f"  MessageTemplate.render  {ours:7.3f} s  ({ours / n * 1e6:5.2f} µs/row)")
    print(f"  baseline str.format_map {fmt_time:7.3f} s  (ours is {ours / fmt_time:4.1f}x)")
    print(f"  parse_template once     {parse * 1e6:7.1f} µs")

    # --- Counting the rendered texts ---------------------------------------------
    texts = [render(row) for row in rows]
    count = timed(lambda: [billed_messages(char_count(t)) for t in texts])
    enc = timed(lambda: [encoding_info(t) for t in texts])
    length = timed(lambda: [len(t) for t in texts])
    print("\ncount the rendered texts")
    print(f"  billed_messages(char_count) {count:7.3f} s  (baseline len: {length:6.3f} s)")
    print(f"  encoding_info               {enc:7.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
