"""PDF reader spike (issue #19): pypdfium2, pypdf and pdfplumber side by side.

Builds its own PDFs with reportlab (nothing shipped, nothing fetched): a 100-page contract-like
document (title, parties, dated clauses with amounts, a word hyphenated across lines on every
page, a two-column page, a table page), a 5-page one, a scan-like PDF (one image, no text
layer), one encrypted with a user password and one with only an owner password. Then, for each
library it finds installed, in a child process per run (the process's peak resident memory
sees C memory, tracemalloc does not; `peak_kb` says why VmHWM and not ru_maxrss): pages/s on
the 100-page PDF (best of --repeat, one process; the target is >= 50 pages/s on 2 cores), the
peak memory increase of one full read over the process after its import, and text checks:

- order:   every page's markers (heading, clause numbers) come out in the order written;
- words:   clause 4 of each page is placed word by word, no space glyphs: the share of its
           word pairs that come out apart;
- hyphen:  how `indemni-` / `fication` across a line break comes out;
- columns: the two-column page's left column comes out whole before the right one;
- table:   each table row's cells come out on one line, in order;
- scan:    characters read from the image-only PDF (0 expected: say "it is a scan");
- user pw: what opening the user-password PDF without a password does;
- owner:   whether the owner-password-only PDF is read.

Needs reportlab and pillow to build the PDFs; none of this is in uv.lock (a spike, run in a
scratch venv):

    python3 -m venv /tmp/spike19 && /tmp/spike19/bin/pip install pypdfium2 pypdf pdfplumber \
        reportlab
    /tmp/spike19/bin/python bench/pdf_reader_bench.py [--repeat 3] [--keep DIR] [--pages 100]
        [--only pypdfium2 pypdf]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import itertools
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARIES = ("pypdfium2", "pypdf", "pdfplumber")
PAGES = 100
TWO_COLUMN_PAGE, TABLE_PAGE = 40, 60  # 1-based
TABLE = [("Item", "Quantity", "Unit price", "Total"),
         ("Licence seats", "250", "EUR 120.00", "EUR 30,000.00"),
         ("Support hours", "80", "EUR 95.50", "EUR 7,640.00"),
         ("Training days", "4", "EUR 1,450.00", "EUR 5,800.00")]
SENTENCE = ("the supplier shall deliver services described in this schedule within days of the "
            "effective date and the customer shall pay each invoice net thirty days after receipt "
            "unless disputed in good faith by written notice to the other party")
WORDS = SENTENCE.split()


# --- building the PDFs --------------------------------------------------------------------------

def _clause(page: int, n: int) -> str:
    words = [WORDS[(page * 7 + n * 3 + i) % len(WORDS)] for i in range(28)]
    return (f"{page}.{n} On 2026-{(page % 12) + 1:02d}-{(n * 3) % 28 + 1:02d} "
            + " ".join(words) + f", for EUR {page * 1000 + n * 17:,}.00.")


def build(out: Path) -> dict[str, Path]:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas
    from reportlab.pdfgen.canvas import Canvas

    width, height = A4

    def lines(c: Canvas, x: float, y: float, texts: list[str], size: int = 10) -> float:
        c.setFont("Helvetica", size)
        for text in texts:
            c.drawString(x, y, text)
            y -= size * 1.4
        return y

    def wrap(text: str, chars: int) -> list[str]:
        out, line = [], ""
        for word in text.split():
            if len(line) + len(word) + 1 > chars:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        return [*out, line]

    def contract(path: Path, pages: int, **kwargs: object) -> Path:
        c = canvas.Canvas(str(path), pagesize=A4, **kwargs)
        for page in range(1, pages + 1):
            c.setFont("Helvetica-Bold", 14)
            c.drawString(60, height - 60, f"Section {page}: Terms of Service Agreement")
            y = height - 90
            if page == 1:
                y = lines(c, 60, y, ["This Agreement is made on 3 December 2026 between",
                                     "Party A: Northwind Traders Ltd, 12 Harbour Road, Leeds",
                                     "Party B: Contoso Analytics GmbH, Hauptstrasse 5, Berlin"])
            if page == TWO_COLUMN_PAGE:
                left = wrap(" ".join(_clause(page, n) for n in (1, 2)), 42)
                right = wrap(" ".join(_clause(page, n) for n in (3, 4)), 42)
                lines(c, 60, y, ["LEFTCOL " + left[0], *left[1:]])
                lines(c, 310, y, ["RIGHTCOL " + right[0], *right[1:]])
            elif page == TABLE_PAGE:
                c.setFont("Helvetica", 10)
                for r, row in enumerate(TABLE):
                    ty = y - r * 20
                    for col, cell in enumerate(row):
                        c.drawString(62 + col * 120, ty, cell)
                    c.line(58, ty - 6, 58 + 4 * 120, ty - 6)
                for col in range(5):
                    c.line(58 + col * 120, y + 14, 58 + col * 120, y - 4 * 20 + 14)
            else:
                for n in range(1, 4):
                    y = lines(c, 60, y, wrap(_clause(page, n), 95)) - 6
                for line in wrap(_clause(page, 4), 95):  # word by word, no space glyphs,
                    x = 60.0                             # as many PDF writers place text
                    for word in line.split():
                        c.drawString(x, y, word)
                        x += c.stringWidth(word + " ", "Helvetica", 10)
                    y -= 14
                y -= 6
                lines(c, 60, y, ["The customer shall hold the supplier harmless and its indemni-",
                                 "fication obligations survive the end of this Agreement."])
            c.setFont("Helvetica", 8)
            c.drawString(width / 2 - 20, 30, f"Page {page} of {pages}")
            c.showPage()
        c.save()
        return path

    def scan(path: Path) -> Path:
        from PIL import Image, ImageDraw

        image = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(image)
        for i in range(30):
            draw.text((100, 100 + i * 40), _clause(1, i), fill=0)
        c = canvas.Canvas(str(path), pagesize=A4)
        c.drawImage(ImageReader(image), 0, 0, width, height)
        c.showPage()
        c.save()
        return path

    from reportlab.lib.pdfencrypt import StandardEncryption

    return {
        "contract100": contract(out / "contract100.pdf", PAGES),
        "contract5": contract(out / "contract5.pdf", 5),
        "scan": scan(out / "scan.pdf"),
        "user_pw": contract(out / "user_pw.pdf", 2, encrypt=StandardEncryption(
            "open-sesame", "owner", strength=128)),
        "owner_only": contract(out / "owner_only.pdf", 2, encrypt=StandardEncryption(
            "", "owner", canPrint=0, canCopy=0, strength=128)),
    }


# --- reading: one function per library, each returning the text of every page -------------------

def read_pypdfium2(path: str) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        out = []
        for page in pdf:
            textpage = page.get_textpage()
            out.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return out
    finally:
        pdf.close()


def read_pypdf(path: str) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")  # an owner password only: the empty user password opens it
    return [page.extract_text() or "" for page in reader.pages]


def read_pdfplumber(path: str) -> list[str]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


READERS = {"pypdfium2": read_pypdfium2, "pypdf": read_pypdf, "pdfplumber": read_pdfplumber}


def peak_kb() -> int:
    """This process's peak resident memory, C memory included. Linux's VmHWM, not ru_maxrss:
    across exec, ru_maxrss keeps the parent's peak at fork (the kernel carries the old
    mm's high-water mark into the new one's count), which hid whole reads under the parent's
    size in a first version of this bench."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(lib: str, job: str, path: str, repeat: int) -> dict[str, object]:
    """Runs in a fresh process: the library imported first, so ru_maxrss's baseline has it."""
    read = READERS[lib]
    importlib.import_module(lib)
    base = peak_kb()
    try:
        start = time.perf_counter()
        pages = read(path)
        times = [time.perf_counter() - start]
        peak = peak_kb()
        for _ in range(repeat - 1 if job == "speed" else 0):
            start = time.perf_counter()
            read(path)
            times.append(time.perf_counter() - start)
    except Exception as exc:  # the point: what each library says
        return {"error": f"{type(exc).__name__}: {str(exc)[:70] or repr(exc)}"}
    return {"pages": pages, "best_s": min(times), "rss_kb": peak - base, "peak_kb": peak}


def run_child(lib: str, job: str, path: Path, repeat: int) -> dict[str, object]:
    proc = subprocess.run([sys.executable, __file__, "--child", lib, job, str(path),
                           str(repeat)], capture_output=True, text=True, timeout=600)
    if proc.returncode:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout)


# --- checks ---------------------------------------------------------------------------------------

def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def checks(pages: list[str]) -> dict[str, str]:
    out = {}
    in_order = 0
    for number, text in enumerate(pages, 1):
        if number in (TWO_COLUMN_PAGE, TABLE_PAGE):
            continue
        marks = [f"Section {number}:", *(f"{number}.{n} On" for n in range(1, 5)),
                 "indemni", f"Page {number} of"]
        found = [_flat(text).find(m) for m in marks]
        in_order += all(f >= 0 for f in found) and found == sorted(found)
    out["order"] = f"{in_order}/{PAGES - 2} pages"
    found = total = 0  # clause 4 is placed word by word: are its word pairs still apart?
    for number, text in enumerate(pages, 1):
        if number not in (TWO_COLUMN_PAGE, TABLE_PAGE):
            words, flat = _clause(number, 4).split(), _flat(text)
            pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)]
            found += sum(pair in flat for pair in pairs)
            total += len(pairs)
    out["words"] = f"{found / total:.1%} word pairs apart"
    sample = pages[1] if len(pages) > 1 else pages[0]
    hit = re.search(r"indemni\S*\s*\S*", sample)
    out["hyphen"] = repr(hit.group(0)) if hit else "missing"
    two = _flat(pages[TWO_COLUMN_PAGE - 1])
    left_end = two.find(f"{TWO_COLUMN_PAGE}.2 On")
    right = two.find("RIGHTCOL")
    left_last = _clause(TWO_COLUMN_PAGE, 2).split()[-2]
    whole = 0 <= left_end < right and two.find(left_last, left_end) < right
    out["columns"] = "left, then right" if whole else "interleaved"
    rows = pages[TABLE_PAGE - 1].splitlines()
    ok = sum(any(_flat(r).find(" ".join(row)) >= 0 or
                 (all(c in r for c in row) and _ordered(r, row)) for r in rows) for row in TABLE)
    out["table"] = f"{ok}/{len(TABLE)} rows on one line"
    return out


def _ordered(line: str, cells: tuple[str, ...]) -> bool:
    spots = [line.find(c) for c in cells]
    return all(s >= 0 for s in spots) and spots == sorted(spots)


def licence(lib: str) -> str:
    meta = md.metadata(lib)
    text = meta.get("License-Expression") or meta.get("License") or ""
    if not text or len(text) > 60:
        text = "; ".join(c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                         if c.startswith("License"))
    return f"{md.version(lib)}, {text}"


def main() -> None:
    global PAGES
    if sys.argv[1:2] == ["--child"]:
        lib, job, path, repeat = sys.argv[2:6]
        print(json.dumps(child(lib, job, path, int(repeat))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the PDFs here and keep them")
    parser.add_argument("--pages", type=int, default=PAGES,
                        help="pages of the long PDF (more than 100 to see memory grow)")
    parser.add_argument("--only", nargs="*", choices=LIBRARIES, help="these libraries only")
    args = parser.parse_args()
    PAGES = max(args.pages, TABLE_PAGE)
    libs = [lib for lib in args.only or LIBRARIES if importlib.util.find_spec(lib)]
    if not libs:
        sys.exit("none of pypdfium2, pypdf, pdfplumber is installed")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = build(folder)
        size = files["contract100"].stat().st_size
        rows: dict[str, dict[str, str]] = {}
        for lib in libs:
            row = rows[lib] = {"licence": licence(lib)}
            speed = run_child(lib, "speed", files["contract100"], args.repeat)
            if "error" in speed:
                row["pages/s"] = str(speed["error"])
                continue
            pages = speed["pages"]
            assert isinstance(pages, list)
            row["pages/s"] = f"{PAGES / float(speed['best_s']):,.0f}"  # type: ignore[arg-type]
            row["peak +MB"] = f"{int(speed['rss_kb']) / 1024:.1f}"  # type: ignore[call-overload]
            row["peak MB"] = f"{int(speed['peak_kb']) / 1024:.1f}"  # type: ignore[call-overload]
            row["chars"] = f"{sum(map(len, pages)):,}"
            row.update(checks(pages))
            five = run_child(lib, "read", files["contract5"], 1)
            row["5 pages ms"] = ("error" if "error" in five
                                 else f"{float(five['best_s']) * 1000:.0f}")  # type: ignore[arg-type]
            scan = run_child(lib, "read", files["scan"], 1)
            row["scan"] = str(scan.get("error") or
                              f"{sum(map(len, scan['pages'])):,} chars")  # type: ignore[arg-type]
            user = run_child(lib, "read", files["user_pw"], 1)
            row["user pw"] = str(user.get("error") or "read without the password!")
            owner = run_child(lib, "read", files["owner_only"], 1)
            row["owner"] = str(owner.get("error") or
                               ("read" if "Section 1" in "".join(owner["pages"])  # type: ignore[arg-type]
                                else "opened, no text"))
    print(f"{PAGES}-page PDF: {size / 1024:,.0f} KB; target >= 50 pages/s, peak <= "
          f"{10 * size / 2**20 + 30:.1f} MB (10x file + 30 MB)")
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    width, col = max(map(len, keys)), 34
    print(" " * width + " | " + " | ".join(f"{lib:<{col}}" for lib in rows))
    for key in keys:
        print(f"{key:<{width}} | " + " | ".join(f"{rows[lib].get(key, '-')[:col]:<{col}}"
                                                for lib in rows))
    for lib, row in rows.items():  # the long cells in full: errors, licences
        for key, value in row.items():
            if len(value) > col:
                print(f"{lib} {key}: {value}")


if __name__ == "__main__":
    main()
