"""Build the leaderboard from its result files: Markdown, a static HTML page and a parquet mirror.

:func:`build_board` validates the whole results folder first (:func:`validate_tree`); if any file
is rejected nothing is written, so a bad submission never corrupts the board. It re-derives each
entry's verification from its record (:func:`~degzoo.leaderboard.verify.recheck`; a record's own
``status`` is never read), then ranks every (track, zoo release) group
(:mod:`degzoo.leaderboard.tiers`) over its **trusted** entries only — the results degzoo ships
(references, reference implementations, baselines, negative controls) and the verified ones.
Unverified entries are listed apart, under their section's table, with their submitted scores and
no tier or rank, so that a forged file can neither rank nor move a trusted entry's tier. The board
is sectioned per zoo release, the release with the most shipped reference results first (then the
one with the most trend ladders); a result with a ranked suite stopped by a time limit or an error
is labelled incomplete. It writes, each atomically:

- ``LEADERBOARD.md``: one GitHub-flavoured Markdown table per track and release (for the README
  and the Hub dataset card);
- ``index.html``: one self-contained page, no network access: sortable columns, filters by track
  and level, tiers, verified badges, links to code and paper, reference entries marked. Every
  submitted string is HTML-escaped, only http(s) links are emitted, and a Content-Security-Policy
  allows nothing but the page's own inline script and style (by hash);
- ``results.parquet``: every entry with its ranking and the full result JSON (via ``datasets``).

The output depends only on the result and verification files (fixed bootstrap seed, no
timestamps), so ``build --check`` can tell CI whether the committed board is up to date.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from degzoo.benchmark.results import SCHEMA_FILE
from degzoo.benchmark.scoring import RANKED_SUITES, Z95, Triple, score_triple, suite_main_score
from degzoo.files import write_atomically
from degzoo.leaderboard.schema import CONTROL_BUDGET_PREFIX, TRACKS, KnownRelease, safe_url
from degzoo.leaderboard.tiers import CONTROL_LEVELS, Ranking, rank_documents
from degzoo.leaderboard.validate import Entry, validate_tree
from degzoo.leaderboard.verify import read_verification, recheck, verification_path

__all__ = [
    "Board",
    "BuildReport",
    "Row",
    "Section",
    "build_board",
    "collect_board",
    "render_html",
    "render_markdown",
    "write_parquet",
]

MARKDOWN_NAME = "LEADERBOARD.md"
HTML_NAME = "index.html"
SCHEMA_NAME = "result.schema.json"
PARQUET_NAME = "results.parquet"
METRIC_COLUMNS: tuple[str, ...] = (*RANKED_SUITES, "sample_size", "agreement", "cost")


@dataclass
class Row:
    entry: Entry
    ranking: Ranking | None
    suite_scores: dict[str, tuple[float, float, float] | None]
    verification: str  # "verified" | "not_reproduced" | "unverified"
    verification_note: str = ""

    @property
    def trusted(self) -> bool:
        """Ranked on the board: a result degzoo ships (by content) or one the board verified."""
        return self.entry.role is not None or self.verification == "verified"


@dataclass
class Section:
    track: str
    release: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)  # trusted entries, ranked among themselves
    unverified: list[Row] = field(default_factory=list)  # listed apart, scores as submitted

    @property
    def anchor(self) -> str:
        return f"{self.track}--{self.release}"

    @property
    def all_rows(self) -> list[Row]:
        return [*self.rows, *self.unverified]


@dataclass
class Board:
    sections: list[Section]
    digest: str  # sha256 over the result and verification files the board was built from
    warnings: list[str] = field(default_factory=list)

    @property
    def n_entries(self) -> int:
        return sum(len(s.all_rows) for s in self.sections)


@dataclass
class BuildReport:
    root: Path
    n_entries: int
    written: list[Path]
    stale: list[Path]
    warnings: list[str]


# --------------------------------------------------------------------------------------------
# collect
# --------------------------------------------------------------------------------------------


def _verification(root: Path, entry: Entry) -> tuple[str, str, bytes]:
    """``(status, note, record bytes)``: the board's own verdict, re-derived from the record."""
    path = verification_path(root, entry)
    if not path.exists():
        return "unverified", "", b""
    try:
        record, raw = read_verification(path)
    except Exception as exc:  # a broken record never breaks the board: the entry is unverified
        return "unverified", f"unreadable verification record: {exc}", b""
    if record.get("result_sha256") != entry.sha256:
        return "unverified", "the verification record is for an older version of this result", raw
    ok, rows = recheck(entry.doc, record)
    note = f"checked {record.get('checked', '?')} with degzoo {record.get('degzoo_version', '?')}"
    members = (record.get("subset") or {}).get("members")
    if isinstance(members, str):
        note += f" on {members}"
    if ok:
        return "verified", note, raw
    bad = next((r for r in rows if not r["ok"]), None)
    if bad is not None:
        where = ".".join(str(x) for x in (bad["suite"], bad["score"]) if x)
        note += f"; {where}: {bad['note']}"
    return "not_reproduced", note, raw


def release_order(entries: Sequence[Entry]) -> list[str]:
    """The releases of ``entries``: the one with the most shipped reference results first, then the
    one whose reference results rank trend on the most ladders (the richer release), then by name."""
    counts: dict[str, int] = {}
    ladders: dict[str, int] = {}
    for e in entries:
        counts[e.release] = counts.get(e.release, 0) + (e.role == "reference")
        if e.role == "reference":
            ladders[e.release] = max(ladders.get(e.release, 0), _trend_ladders(e.doc))
    return sorted(counts, key=lambda r: (r.startswith(CONTROL_BUDGET_PREFIX), -counts[r],
                                         -ladders.get(r, 0), r))


def _trend_ladders(doc: Mapping[str, Any]) -> int:
    """How many ladders a metric result's trend suite scored (its ``spearman[<ladder>]`` scores)."""
    scores = ((doc.get("suites") or {}).get("trend") or {}).get("scores") or {}
    return sum(name.startswith("spearman[") for name in scores)


def collect_board(
    root: str | os.PathLike[str] = "leaderboard",
    *,
    known: Mapping[str, str | KnownRelease] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Board:
    """Validate the results folder and rank every group; raises ``SubmissionError`` on any bad file."""
    root_path = Path(root)
    entries = validate_tree(root_path, known=known)
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.track, entry.release), []).append(entry)
    digest = hashlib.sha256()
    warnings: list[str] = []
    sections = []
    track_order = {t: i for i, t in enumerate(TRACKS)}
    releases = {r: i for i, r in enumerate(release_order(entries))}
    for (track, release), group in sorted(groups.items(),
                                          key=lambda kv: (releases[kv[0][1]], track_order[kv[0][0]])):
        group.sort(key=lambda e: e.entry_id)
        columns, cell = _columns(track, group)
        rows = []
        for entry in group:
            status, note, raw = _verification(root_path, entry)
            if note.startswith("unreadable"):
                warnings.append(f"{entry.layout}: {note}")
            digest.update(entry.layout.as_posix().encode() + b"\0" + entry.sha256.encode() + b"\0")
            digest.update(hashlib.sha256(raw).hexdigest().encode() + b"\n")
            rows.append(Row(entry, None, {c: cell(entry.doc, c) for c in columns}, status, note))
        trusted = [r for r in rows if r.trusted]
        unverified = [r for r in rows if not r.trusted]
        for part in (trusted, unverified):
            _rank_section(part, n_boot=n_boot, seed=seed)
            part.sort(
                key=lambda r: (
                    r.ranking is None,
                    r.ranking.tier if r.ranking else 0,
                    -(r.ranking.score if r.ranking else 0.0),
                    r.entry.entry_id,
                )
            )
        unverified.sort(key=lambda r: (r.ranking is None, -(r.ranking.score if r.ranking else 0.0),
                                       r.entry.entry_id))
        sections.append(Section(track, release, columns, trusted, unverified))
    return Board(sections, digest.hexdigest(), warnings)


def _metric_cell(doc: Mapping[str, Any], column: str) -> Triple | None:
    clip = column in RANKED_SUITES  # cost and the like are shown as they are
    return suite_main_score(column, doc["suites"].get(column) or {}, clip=clip)


def _ratio_cell(doc: Mapping[str, Any], column: str) -> Triple | None:
    """Geometric-mean ratio method / baseline of a level over the conditions, from the suites.

    Recomputed from each condition's ``<level>_ratio`` (never read from the file's summary); the
    interval combines the conditions' log-scale standard errors as independent.
    """
    level = column.split(" ", 1)[0]
    triples = [
        score_triple((suite.get("scores") or {}).get(f"{level}_ratio"))
        for suite in doc["suites"].values()
        if suite.get("status") == "ok"
    ]
    if not triples or any(t is None or min(t) <= 0 for t in triples):
        return None
    logs = [math.log(t[0]) for t in triples]
    se = math.sqrt(sum(((math.log(t[2]) - math.log(t[1])) / (2 * Z95)) ** 2 for t in triples)) / len(logs)
    mean = sum(logs) / len(logs)
    return math.exp(mean), math.exp(mean - Z95 * se), math.exp(mean + Z95 * se)


def _suite_cell(doc: Mapping[str, Any], column: str) -> Triple | None:
    return suite_main_score(column, doc["suites"].get(column) or {}, clip=False)


def _columns(track: str, group: Sequence[Entry]) -> tuple[tuple[str, ...], Any]:
    """The per-entry columns of a section and how to fill a cell."""
    if track != "control":
        return METRIC_COLUMNS, _metric_cell
    ratio_cols = tuple(f"{lvl} ratio" for lvl in CONTROL_LEVELS)
    if any(_ratio_cell(e.doc, c) for c in ratio_cols for e in group):
        return ratio_cols, _ratio_cell  # an entry that did not complete shows "—"
    return tuple(sorted({s for e in group for s in e.doc["suites"]})), _suite_cell


def _rank_section(rows: list[Row], *, n_boot: int, seed: int) -> None:
    if not rows:
        return
    rankings = rank_documents([r.entry.doc for r in rows], [r.entry.entry_id for r in rows],
                              n_boot=n_boot, seed=seed)
    for row, ranking in zip(rows, rankings, strict=True):
        row.ranking = ranking


# --------------------------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, column: str = "") -> str:
    if value is None:
        return "—"
    if column in COLUMN_UNITS:
        shown = value * COLUMN_UNITS[column][2]
        return f"{shown:.0f}" if abs(shown) >= 1000 else f"{shown:.3g}"  # 1190, not 1.19e+03
    return f"{value:.3f}"


def _cell_text(row: Row, column: str) -> str:
    """A cell's text: the suite's main score or, for a ranked suite of a metric entry that did not
    finish ok, what the score counts it as: 0 with its status (and checks passed), or "skipped"
    (not applicable to the metric, left out of the mean)."""
    s = row.suite_scores[column]
    if s is not None:
        return _fmt(s[0], column)
    if row.entry.track == "control" or column not in RANKED_SUITES:
        return "—"
    suite = row.entry.doc["suites"].get(column) or {}
    status = suite.get("status") or "not run"
    if status == "skipped":
        return "skipped"
    passed = (suite.get("scores") or {}).get("checks_passed")
    checks, n = score_triple(passed), (passed or {}).get("n")
    if checks is not None and isinstance(n, int) and n > 0:
        return f"0 ({status}: {round(checks[0] * n)}/{n} checks)"
    return f"0 ({status})"


def _authors(sub: Mapping[str, Any]) -> str:
    a = sub.get("authors") or ""
    return ", ".join(a) if isinstance(a, list) else str(a)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(text: str) -> str:
    """Text safe in a Markdown table cell: HTML special characters as entities, Markdown ones escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(_one_line(text), quote=False))


def _md_link(label: str, url: Any) -> str:
    url = safe_url(url)
    if url is None:
        return ""
    return f"[{label}]({url.replace('(', '%28').replace(')', '%29')})"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _track_title(track: str) -> str:
    return "Control methods" if track == "control" else f"Metrics — {track.split('-', 1)[1]} level"


def _rank_text(r: Ranking | None) -> str:
    if r is None:
        return "—"
    return str(r.rank_low) if r.rank_low == r.rank_high else f"{r.rank_low}–{r.rank_high}"


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_HOW_TO_READ = (
    "Higher is better. The board has one part per zoo release (the release with the most shipped "
    "reference results first, then the one whose trend suite has the most ladders); entries are "
    "compared only within one release and track. Metric "
    "tracks: the score is the mean of the main scores (each in [0, 1]) "
    f"of {', '.join(RANKED_SUITES)}. Control track: the mean degeneracy reduction "
    "-ln(method / baseline) over conditions and levels at matched task performance (0 = no "
    "change; the level columns show the geometric-mean ratio method / baseline). **Tier**: "
    "entries in one tier cannot be separated from the tier's best entry at 95 % (paired "
    "bootstrap of each suite's measurement error; the control track also resamples its "
    "conditions); the order inside a tier is not significant. **Rank** is the "
    "95 % bootstrap interval of the entry's rank. Only trusted entries are ranked: results shipped "
    "with degzoo and results the board verified (✓ = every ranked suite re-run by the board's "
    "`degzoo leaderboard verify` and reproduced). **Unverified** submissions are listed apart, "
    "below their section's table, with the scores their authors submitted and no tier or rank. "
    "★ = reference result shipped with degzoo; (ref. impl.) = a "
    "package users use today, scored through its own code at the same settings; (baseline) = a "
    "measure users actually reach for, shipped with degzoo to show where a naive or classical "
    "choice lands; (control) = negative control shipped with degzoo, a metric that must rank low "
    "for the benchmark to be valid. "
    "A ranked suite that failed, ended in an error or timed out counts as 0 (its cell says which); "
    "a result with a suite stopped by a time limit or an error is labelled **incomplete**; "
    "a skipped one (not applicable to the metric) is left out of the mean. "
    "**cost** is milliseconds per pair of networks over the scoring run, in process time (lower is "
    "better; not ranked)."
)
#: How Markdown marks an entry whose content degzoo ships (see ``Entry.role``).
_ROLE_MARK = {"reference": " ★", "reference implementation": " (ref. impl.)", "baseline": " (baseline)",
              "negative control": " (control)"}
#: The Verified column: the board's verdict (a shipped entry is trusted for its content).
_VERIFIED_TEXT = {"verified": "✓", "not_reproduced": "✗ not reproduced", "unverified": "unverified"}


def _verified_text(row: Row) -> str:
    if row.verification == "verified":
        return _VERIFIED_TEXT["verified"]
    return "shipped" if row.entry.role is not None else _VERIFIED_TEXT[row.verification]


def _incomplete_text(entry: Entry) -> str:
    """``"trend: timeout, reliability: error"`` for an incomplete result, ``""`` otherwise."""
    return ", ".join(f"{name}: {status}" for name, status in entry.incomplete.items())


def _release_title(release: str) -> str:
    if release.startswith(CONTROL_BUDGET_PREFIX):
        return f"Control-track budget `{release[len(CONTROL_BUDGET_PREFIX):]}`"
    return f"Zoo release `{release}`"


def _release_note(release: str, sections: Sequence[Section]) -> str:
    entries = [r.entry for sec in sections if sec.release == release for r in sec.all_rows]
    refs = sum(e.role == "reference" for e in entries)
    return (f"Everything in this part ranks results computed on `{release}`: {len(entries)} "
            f"entr{'y' if len(entries) == 1 else 'ies'}, {refs} shipped reference result"
            f"{'s' * (refs != 1)}.")


_UNVERIFIED_NOTE = (
    "**Unverified submissions** — scores as submitted, not (yet) reproduced by the board's re-run; "
    "not ranked with the entries above."
)


def _markdown_table(section: Section, rows: Sequence[Row]) -> list[str]:
    cols = [f"{c} ({COLUMN_UNITS[c][1]})" if c in COLUMN_UNITS else c for c in section.columns]
    heads = ["Tier", "Rank", "Entry", "Score (95 % CI)", *cols, "Verified", "Package", "Links"]
    out = ["| " + " | ".join(md_escape(h) for h in heads) + " |",
           "|" + "|".join(":--" if h in ("Entry", "Package", "Links") else "--:" for h in heads) + "|"]
    for row in rows:
        e, r, sub = row.entry, row.ranking, row.entry.submission
        name = md_escape(e.name) + _ROLE_MARK.get(e.role or "", "")
        if e.incomplete:
            name += f" **incomplete** \\({md_escape(_incomplete_text(e))}\\)"
        authors = _authors(sub)
        if authors:
            name += f"<br><sub>{md_escape(authors)}</sub>"
        score = "—" if r is None else f"{r.score:.3f} ({r.score_low:.3f}–{r.score_high:.3f})"
        ranked = r is not None and row.trusted
        cells = [
            str(r.tier) if ranked else "—",
            _rank_text(r) if ranked else "—",
            name,
            score,
            *(md_escape(_cell_text(row, c)) for c in section.columns),
            _verified_text(row),
            md_escape(f"{sub['package']['name']}=={sub['package']['version']}"),
            " ".join(
                x
                for x in (
                    _md_link("code", sub.get("code_url")),
                    _md_link("paper", sub.get("paper_url")),
                    f"[json]({e.layout.as_posix()})",
                )
                if x
            ),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(board: Board) -> str:
    """The board as GitHub-flavoured Markdown (for README.md and the Hub dataset card)."""
    out = [
        "# degzoo leaderboard",
        "",
        "<!-- Generated by `degzoo leaderboard build` from leaderboard/results; do not edit. -->",
        "",
        _HOW_TO_READ,
        "",
        f"{board.n_entries} entr{'y' if board.n_entries == 1 else 'ies'}; source digest "
        f"`{board.digest[:16]}`.",
        "",
    ]
    if not board.sections:
        out += ["No results yet. Submit one with `degzoo leaderboard submit RESULT --repo-id ...`.", ""]
    release = None
    for section in board.sections:
        if section.release != release:
            release = section.release
            out += [f"## {_release_title(release)}", "", _release_note(release, board.sections), ""]
        out += [f"### {_track_title(section.track)} · zoo `{section.release}`", ""]  # [A-Za-z0-9._/-]
        if section.rows:
            out += [*_markdown_table(section, section.rows), ""]
        if section.unverified:
            out += [_UNVERIFIED_NOTE, "", *_markdown_table(section, section.unverified), ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:90rem;
padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.35rem;margin-top:2.5rem}h3{font-size:1.1rem;margin-top:1.5rem}
h4{font-size:.95rem;margin:1rem 0 .3rem}
.note{color:#57606a;max-width:60rem}
.filters{display:flex;gap:1rem;align-items:center;margin:1rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;table-layout:fixed;font-size:.85rem}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .25rem;text-align:right;vertical-align:top}
th{vertical-align:bottom;font-size:.8rem}
th.t,td.t{text-align:left}td.t{overflow-wrap:anywhere}
td.n{white-space:nowrap}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit;
text-align:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
.unit{display:block;font-weight:400;color:#57606a}
tr.tier-odd td{background:#f6f8fa}
.badge{display:inline-block;border-radius:.6rem;padding:0 .4rem;font-size:.72rem;white-space:nowrap}
.name .badge{margin-left:.3rem}
.verified{background:#dafbe1;color:#116329}.not-reproduced{background:#ffebe9;color:#a40e26}
.reference{background:#ddf4ff;color:#0550ae}
.neg-control{background:#f6f8fa;color:#57606a}
.ref-impl{background:#fff8c5;color:#7d4e00}
.baseline{background:#fbefff;color:#6e40c9}
.unverified{background:#fff1e5;color:#953800}.shipped{background:#ddf4ff;color:#0550ae}
.incomplete{background:#ffebe9;color:#a40e26}
table.unverified-table td{color:#57606a}
.authors{display:block;color:#57606a;font-size:.8rem}
[hidden]{display:none!important}
"""

#: Column widths (% of the table) of the columns every section has; the suite or level columns
#: share the rest equally, so sections with the same columns line up exactly.
_FIXED_WIDTHS = {"Tier": 3.5, "Rank": 5.0, "Entry": 12.0, "Score": 5.0, "95 % CI": 8.0,
                 "Verified": 8.5, "Package": 7.0, "Links": 5.0}
#: Header labels that may break (soft hyphens), so the board fits a 1024 px window.
_HEADER_LABELS = {
    "conformance": "confor\u00admance",
    "calibration": "cali\u00adbra\u00adtion",
    "discriminability": "dis\u00adcrim\u00adin\u00adabil\u00adity",
    "reliability": "relia\u00adbility",
    "sample_size": "sample size",
    "agreement": "agree\u00adment",
}
#: Columns whose number is not a score in [0, 1] (higher is better): unit, meaning, scale factor.
COLUMN_UNITS = {"cost": ("ms/pair ↓", "milliseconds per pair of networks, lower is better", 1000.0)}

_JS = """
(function () {
  "use strict";
  function key(cell, type) {
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent; }
    if (type === "number") { var x = parseFloat(v); return isNaN(x) ? null : x; }
    return v.toLowerCase();
  }
  var tables = document.querySelectorAll("table.board");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var type = th.getAttribute("data-type") || "text";
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col], type), y = key(b.cells[col], type);
          if (x === null && y === null) { return 0; }
          if (x === null) { return 1; }
          if (y === null) { return -1; }
          if (x < y) { return asc ? -1 : 1; }
          if (x > y) { return asc ? 1 : -1; }
          return 0;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var trackSel = document.getElementById("filter-track");
  var levelSel = document.getElementById("filter-level");
  var count = document.getElementById("shown-count");
  function applyFilters() {
    var track = trackSel.value, level = levelSel.value, shown = 0;
    Array.prototype.forEach.call(document.querySelectorAll("section.board"), function (sec) {
      var visible = 0;
      var trackOk = !track || sec.getAttribute("data-track") === track;
      Array.prototype.forEach.call(sec.querySelectorAll("tbody tr"), function (tr) {
        var levels = (tr.getAttribute("data-levels") || "").split(" ");
        var ok = trackOk && (!level || levels.indexOf(level) >= 0);
        tr.hidden = !ok;
        if (ok) { visible += 1; }
      });
      sec.hidden = visible === 0;
      shown += visible;
    });
    Array.prototype.forEach.call(document.querySelectorAll("section.release"), function (rel) {
      rel.hidden = rel.querySelectorAll("section.board:not([hidden])").length === 0;
    });
    count.textContent = String(shown);
  }
  trackSel.addEventListener("change", applyFilters);
  levelSel.addEventListener("change", applyFilters);
  applyFilters();
})();
"""


def _md_to_html(text: str) -> str:
    """The few Markdown marks of the board's own notes (never submitted text) as HTML."""
    out = _esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _html_link(label: str, url: Any) -> str:
    url = safe_url(url)
    if url is None:
        return ""
    return f'<a href="{_esc(url)}" rel="nofollow noopener noreferrer">{_esc(label)}</a>'


def _th(label: str, kind: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    text = _esc(_HEADER_LABELS.get(label, label))
    unit, meaning, _ = COLUMN_UNITS.get(label, ("", "", 1.0))
    if unit:
        c += f' title="{_esc(label)}: {_esc(meaning)}"'
        text += f'<span class="unit">{_esc(unit)}</span>'
    elif label in _HEADER_LABELS:
        c += f' title="{_esc(label)}"'
    return f'<th scope="col" data-type="{kind}"{c}><button type="button">{text}</button></th>'


def _colgroup(columns: Sequence[str]) -> str:
    """Fixed column widths: the same for the same columns in every section (they line up)."""
    fixed = list(_FIXED_WIDTHS.items())
    rest = (100.0 - sum(_FIXED_WIDTHS.values())) / max(1, len(columns))
    widths = [w for _, w in fixed[:5]] + [rest] * len(columns) + [w for _, w in fixed[5:]]
    # an attribute, not style="...": the page's Content-Security-Policy allows no inline styles
    return "<colgroup>" + "".join(f'<col width="{w:.3f}%">' for w in widths) + "</colgroup>"


def _td(text: str, value: Any = None, cls: str = "", *, raw: bool = False) -> str:
    attrs = ""
    if value is not None:
        attrs += f' data-value="{_esc(value)}"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<td{attrs}>{text if raw else _esc(text)}</td>"


#: The HTML badge of each shipped role: class, label, title.
_ROLE_BADGES = {
    "reference": ("reference", "★ reference", "reference result shipped with degzoo"),
    "reference implementation": ("ref-impl", "reference implementation", "a package users use today, "
                                 "scored through its own code at degzoo's settings"),
    "baseline": ("baseline", "baseline", "a measure users actually reach for, shipped with degzoo to show "
                 "where a naive or classical choice lands"),
    "negative control": ("neg-control", "negative control",
                         "negative control shipped with degzoo: it must score low"),
}


def _html_row(row: Row, section: Section) -> str:
    e, r, sub = row.entry, row.ranking, row.entry.submission
    levels = "behaviour dynamics weights representation" if e.track == "control" else e.level
    tier_cls = "" if r is None else ("tier-odd" if r.tier % 2 else "tier-even")
    name = _esc(e.name)
    if e.role is not None:
        cls, label, title = _ROLE_BADGES[e.role]
        name += f'<span class="badge {cls}" title="{_esc(title)}">{_esc(label)}</span>'
    if e.incomplete:
        name += (f'<span class="badge incomplete" title="a ranked suite was stopped by a time limit or an '
                 f'error and counts 0: {_esc(_incomplete_text(e))}">incomplete: '
                 f'{_esc(", ".join(e.incomplete))}</span>')
    authors = _authors(sub)
    if authors:
        name += f'<span class="authors">{_esc(authors)}</span>'
    if row.verification == "verified":
        badge = f'<span class="badge verified" title="{_esc(row.verification_note)}">verified</span>'
    elif row.verification == "not_reproduced":
        badge = (f'<span class="badge not-reproduced" title="{_esc(row.verification_note)}">'
                 "not reproduced</span>")
    elif e.role is not None:
        badge = '<span class="badge shipped" title="a result shipped with degzoo">shipped</span>'
    else:
        badge = ('<span class="badge unverified" title="not re-run by the board: scores as submitted">'
                 "unverified</span>")
    links = " ".join(
        x
        for x in (
            _html_link("code", sub.get("code_url")),
            _html_link("paper", sub.get("paper_url")),
            f'<a href="{_esc(e.layout.as_posix())}">json</a>',
        )
        if x
    )
    ranked = r is not None and row.trusted
    cells = [
        _td(str(r.tier) if ranked else "—", r.tier if ranked else ""),
        _td(_rank_text(r) if ranked else "—", r.rank if ranked else ""),
        _td(name, e.name, "t name", raw=True),
        _td("—" if r is None else f"{r.score:.3f}", "" if r is None else repr(r.score), "score n"),
        _td(
            "—" if r is None else f"{r.score_low:.3f}–{r.score_high:.3f}",
            "" if r is None else repr(r.score_high - r.score_low),
        ),
    ]
    for c in section.columns:
        s = row.suite_scores[c]
        if s is None:
            text = _cell_text(row, c)
            cells.append(_td(text, "0" if text.startswith("0 (") else ""))
        else:
            cells.append(
                f'<td class="n" data-value="{_esc(repr(s[0]))}" title="95 % CI {_fmt(s[1], c)}–'
                f'{_fmt(s[2], c)}">{_esc(_fmt(s[0], c))}</td>'
            )
    cells += [
        _td(badge, row.verification, "t", raw=True),
        _td(f"{sub['package']['name']}=={sub['package']['version']}", None, "t"),
        _td(links, None, "t", raw=True),
    ]
    return (
        f'<tr class="{tier_cls}" data-entry="{_esc(e.entry_id)}" data-levels="{levels}"'
        f' data-verified="{_esc(row.verification)}" data-role="{_esc(e.role or "")}"'
        f' data-reference="{"true" if e.reference else "false"}">' + "".join(cells) + "</tr>"
    )


def _html_table(section: Section, rows: Sequence[Row], cls: str) -> str:
    heads = [
        _th("Tier", "number"),
        _th("Rank", "number"),
        _th("Entry", "text", "t"),
        _th("Score", "number"),
        _th("95 % CI", "number"),  # sorts by the interval's width
        *(_th(c, "number") for c in section.columns),
        _th("Verified", "text", "t"),
        _th("Package", "text", "t"),
        '<th scope="col" class="t">Links</th>',
    ]
    return (f'<div class="scroll"><table class="{cls}">{_colgroup(section.columns)}'
            f'<thead><tr>{"".join(heads)}</tr></thead><tbody>'
            + "\n".join(_html_row(row, section) for row in rows) + "</tbody></table></div>")


def render_html(board: Board) -> str:
    """The board as one self-contained HTML page (no external resources)."""
    csp = (
        f"default-src 'none'; script-src {_csp_hash(_JS)}; style-src {_csp_hash(_CSS)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    track_opts = "".join(f'<option value="{t}">{_esc(t)}</option>' for t in TRACKS)
    level_opts = "".join(
        f'<option value="{lv}">{lv}</option>' for lv in ("behaviour", "dynamics", "weights", "representation")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>degzoo leaderboard</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>degzoo leaderboard</h1>",
        f'<p class="note">{_md_to_html(_HOW_TO_READ)}</p>',
        f'<p class="note">Built by <code>degzoo leaderboard build</code> from {board.n_entries} '
        f"result file(s); source digest <code>{board.digest[:16]}</code>.</p>",
        '<div class="filters">',
        f'<label>Track <select id="filter-track"><option value="">all</option>{track_opts}</select></label>',
        f'<label>Level <select id="filter-level"><option value="">all</option>{level_opts}</select></label>',
        '<span><span id="shown-count"></span> shown</span>',
        "</div>",
    ]
    if not board.sections:
        parts.append('<p class="note">No results yet.</p>')
    release = None
    for section in board.sections:
        if section.release != release:
            if release is not None:
                parts.append("</section>")
            release = section.release
            parts.append(f'<section class="release" data-release="{_esc(release)}">')
            parts.append(f"<h2>{_md_to_html(_release_title(release))}</h2>")
            parts.append(f'<p class="note">{_md_to_html(_release_note(release, board.sections))}</p>')
        parts.append(
            f'<section class="board" id="{_esc(section.anchor)}" data-track="{_esc(section.track)}"'
            f' data-release="{_esc(section.release)}">'
        )
        parts.append(
            f"<h3>{_esc(_track_title(section.track))} · zoo <code>{_esc(section.release)}</code></h3>"
        )
        if section.rows:
            parts.append(_html_table(section, section.rows, "board"))
        if section.unverified:
            parts.append(f'<h4 class="unverified-title">{_md_to_html(_UNVERIFIED_NOTE)}</h4>')
            parts.append(_html_table(section, section.unverified, "board unverified-table"))
        parts.append("</section>")
    if release is not None:
        parts.append("</section>")
    parts += [f"<script>{_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# parquet
# --------------------------------------------------------------------------------------------


def _parquet_rows(board: Board) -> list[dict[str, Any]]:
    rows = []
    for section in board.sections:
        for row in section.all_rows:
            e, sub, doc = row.entry, row.entry.submission, row.entry.doc
            r = row.ranking
            ranked = r if row.trusted else None  # unverified: a score, no tier or rank
            ident = doc.get("metric") or doc.get("control") or {}
            rows.append(
                {
                    "track": e.track,
                    "zoo_release": e.release,
                    "zoo_manifest_sha256": doc["zoo"]["manifest_sha256"],
                    "entry_id": e.entry_id,
                    "path": e.layout.as_posix(),
                    "name": e.name,
                    "authors": _authors(sub),
                    "code_url": sub.get("code_url"),
                    "paper_url": sub.get("paper_url"),
                    "package_name": sub["package"]["name"],
                    "package_version": sub["package"]["version"],
                    "reference": e.reference,
                    "role": e.role,
                    "kind": doc["kind"],
                    "method": ident.get("name"),
                    "level": e.level,
                    "tier": None if ranked is None else ranked.tier,
                    "rank": None if ranked is None else ranked.rank,
                    "rank_low": None if ranked is None else ranked.rank_low,
                    "rank_high": None if ranked is None else ranked.rank_high,
                    "score": None if r is None else r.score,
                    "score_low": None if r is None else r.score_low,
                    "score_high": None if r is None else r.score_high,
                    "verification": row.verification,
                    "incomplete": ",".join(e.incomplete) or None,
                    "suite_scores": json.dumps(
                        {k: v[0] if v else None for k, v in row.suite_scores.items()}, sort_keys=True
                    ),
                    "degzoo_version": doc["degzoo_version"],
                    "created": doc["created"],
                    "result_sha256": e.sha256,
                    "result_json": json.dumps(doc, sort_keys=True, ensure_ascii=False),
                }
            )
    return rows


def write_parquet(board: Board, path: str | os.PathLike[str]) -> Path:
    """Write every entry (ranking + full result JSON) as a parquet file via ``datasets``."""
    from datasets import Dataset, Features, Value

    string, i32, f64 = Value("string"), Value("int32"), Value("float64")
    features = Features({
        "track": string, "zoo_release": string, "zoo_manifest_sha256": string, "entry_id": string,
        "path": string, "name": string, "authors": string, "code_url": string, "paper_url": string,
        "package_name": string, "package_version": string, "reference": Value("bool"),
        "role": string, "kind": string, "method": string, "level": string, "tier": i32, "rank": i32,
        "rank_low": i32, "rank_high": i32, "score": f64, "score_low": f64, "score_high": f64,
        "verification": string, "incomplete": string, "suite_scores": string, "degzoo_version": string,
        "created": string,
        "result_sha256": string, "result_json": string,
    })  # fmt: skip
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    rows = _parquet_rows(board)
    data = {k: [r[k] for r in rows] for k in features}
    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        Dataset.from_dict(data, features=features).to_parquet(str(path))
    finally:
        if not was_disabled:
            enable_progress_bars()
    return Path(path)


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------


def build_board(
    root: str | os.PathLike[str] = "leaderboard",
    *,
    known: Mapping[str, str | KnownRelease] | None = None,
    parquet: bool = True,
    check: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
) -> BuildReport:
    """Rebuild ``LEADERBOARD.md``, ``index.html``, ``result.schema.json`` (and the parquet) in ``root``.

    Validates every result first; on any rejected file raises ``SubmissionError`` and writes
    nothing. With ``check`` nothing is written either: the report's ``stale`` lists the outputs
    that differ from a fresh build (CI fails on a non-empty list).
    """
    root_path = Path(root)
    board = collect_board(root_path, known=known, n_boot=n_boot, seed=seed)
    outputs = {
        root_path / MARKDOWN_NAME: render_markdown(board).encode("utf-8"),
        root_path / HTML_NAME: render_html(board).encode("utf-8"),
        # the format, for checking submissions without torch (check-jsonschema, jsonschema)
        root_path / SCHEMA_NAME: (resources.files("degzoo.benchmark") / SCHEMA_FILE).read_bytes(),
    }
    if check:
        stale = [p for p, data in outputs.items() if not p.is_file() or p.read_bytes() != data]
        return BuildReport(root_path, board.n_entries, [], stale, board.warnings)
    root_path.mkdir(parents=True, exist_ok=True)
    written = []
    if parquet:
        fd, tmp = tempfile.mkstemp(dir=root_path, prefix=f".{PARQUET_NAME}.", suffix=".tmp")
        os.close(fd)
        try:
            write_parquet(board, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, root_path / PARQUET_NAME)
        finally:
            Path(tmp).unlink(missing_ok=True)
        written.append(root_path / PARQUET_NAME)
    for path, data in outputs.items():
        write_atomically(path, data)
        written.append(path)
    return BuildReport(root_path, board.n_entries, written, [], board.warnings)
