"""Draw static/favicon.ico (16 and 32 px) as static/favicon.svg draws it: the axes and a rising
line on the top bar's navy. Run with the project's venv: ``python tools/make_favicon.py``."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "static" / "favicon.ico"
SCALE = 8  # draw large, then downsample (antialiasing)


def draw(size: int) -> Image.Image:
    s = size * SCALE / 32  # the SVG's 32-unit box
    img = Image.new("RGBA", (size * SCALE, size * SCALE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, 32 * s - 1, 32 * s - 1), radius=int(6 * s), fill="#16213a")
    d.line([(8 * s, 7 * s), (8 * s, 24 * s), (25 * s, 24 * s)], fill="#dbe4ff", width=int(3 * s),
           joint="curve")  # fmt: skip
    d.line([(11 * s, 20 * s), (16 * s, 14 * s), (20 * s, 17 * s), (25 * s, 10 * s)],
           fill="#74c0fc", width=int(2.5 * s), joint="curve")  # fmt: skip
    return img.resize((size, size), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    big = draw(32)
    big.save(OUT, format="ICO", sizes=[(16, 16), (32, 32)], append_images=[draw(16)])
    print(f"{OUT}: {OUT.stat().st_size} bytes")  # noqa: T201 - a command-line tool
