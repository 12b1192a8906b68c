"""The router's data: public sources pinned to a commit, each read by a parser, and the team's
generated supplement. docs/ROUTER_DATA.md is the data card (licenses, label rules, counts).

Labels come from the source (its site, file, section or category field), never from reading
items one by one, except the held-out sets without categories, which the team labelled
(HELDOUT_LABELS: keys and labels only). "heldout" sources are evaluation data only.
"""

import csv
import gzip
import html
import io
import json
import re
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aether_local.router_training.data import Example, Source

__all__ = ["GENERATED", "HELDOUT_LABELS", "SOURCES", "generated"]

Item = dict[str, Any]
HERE = Path(__file__).parent
GENERATED = HERE / "generated.jsonl"
HELDOUT_LABELS = HERE / "heldout_labels.jsonl"

TWEAC = "UKPLab/TWEAC-qa-agent-selection"
TWEAC_COMMIT = "ed4f0cafa87aefd4820cca0d7f4881d2de99a9f0"
# Stack Exchange site -> (agent, task kind) of every question title from it
TWEAC_SITES: dict[str, tuple[str | None, str | None]] = {
    "stackoverflow.com": ("dev", "code"),
    "ux.stackexchange.com": ("luna", None),
    # Not whose field it is: of 150 titles of TWEAC's dev split the team labelled, 9 were an
    # architect's, 73 a developer's and 43 nobody's. Held out only, with the team's labels.
    "softwareengineering.stackexchange.com": (None, None),
    "sqa.stackexchange.com": ("quinn", None),
    "pm.stackexchange.com": ("sage", None),
    "math.stackexchange.com": (None, "math"),
    "puzzling.stackexchange.com": (None, "reasoning"),
    **{
        f"{site}.stackexchange.com": (None, "open_qa")
        for site in [
            "academia",
            "astronomy",
            "biology",
            "cooking",
            "diy",
            "english",
            "fitness",
            "gardening",
            "health",
            "history",
            "interpersonal",
            "law",
            "money",
            "movies",
            "music",
            "outdoors",
            "parenting",
            "pets",
            "photo",
            "skeptics",
            "travel",
            "workplace",
        ]
    },
}


def _team_labels(source: str) -> dict[str, dict[str, Any]]:
    """The team's labels of a held-out source's items, by key (HELDOUT_LABELS)."""
    rows = map(json.loads, HELDOUT_LABELS.read_text().splitlines())
    return {row["key"]: row for row in rows if row["source"] == source}


def _lines(data: bytes) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.strip():
            yield number, " ".join(line.split())


def _blob(repo: str, commit: str, path: str, line: int | None = None) -> str:
    anchor = "" if line is None else f"{'?plain=1' if path.endswith('.md') else ''}#L{line}"
    return f"https://github.com/{repo}/blob/{commit}/{path}{anchor}"


def _tweac(split: str) -> Source:
    sites = [site for site, labels in TWEAC_SITES.items() if split != "train" or labels != (None, None)]
    paths = tuple(f"data/stackexchange/{split}/{site}.txt" for site in sites)

    def parse(files: dict[str, bytes]) -> Iterator[Item]:
        """One question title per line; the site gives the labels, except the agent of held-out
        titles, which only the team's labels of a sample give (a site is where a question was
        posted, not always whose field it is); a title seen before on the same site (any case or
        spacing) is skipped."""
        labels = _team_labels(f"tweac_stackexchange_{split}")
        for path in paths:
            site_agent, task = TWEAC_SITES[path.rsplit("/", 1)[1].removesuffix(".txt")]
            seen: set[str] = set()
            for number, text in _lines(files[path]):
                if text.casefold() not in seen:
                    seen.add(text.casefold())
                    key = f"{path}:{number}"
                    agent = site_agent if split == "train" else labels.get(key, {}).get("agent")
                    link = _blob(TWEAC, TWEAC_COMMIT, path, number)
                    yield {"text": text, "agent": agent, "task": task, "key": key, "link": link}

    return Source(
        name=f"tweac_stackexchange_{split}",
        repo=TWEAC,
        commit=TWEAC_COMMIT,
        paths=paths,
        sha256={
            "train": "f01368275d39da32c6b66f1baecc5e4de6bf1a27aead9ce7815f519627458632",
            "test": "c178f8469a20303be212c2e48166e6a3c4faa07e8dc609988c87c39f2d5f2c45",
        }[split],
        license="MIT (compilation); question titles CC BY-SA 3.0/4.0 (Stack Exchange)",
        parse=parse,
        use="train" if split == "train" else "heldout",
    )


def _archisminer(files: dict[str, bytes]) -> Iterator[Item]:
    """Stack Overflow posts the ArchISMiner authors curated as architecture-related: title and the
    first paragraph of the body (HTML removed, at most 1,000 characters) -> atlas."""
    path = "data/data_from_StackOveflow/367_ARPs_TrainingSet_for_IssueSolutionExtraction.xlsx"
    rows = _xlsx_rows(files[path])
    columns = {name: column for column, name in rows[0].items() if name}
    seen: set[str] = set()
    for row in rows[1:]:
        post = (row.get(columns["Post_id"]) or "").strip().removesuffix(".0")
        title = " ".join((row.get(columns["Question_title"]) or "").split())
        if not post.isdigit() or not title or post in seen:
            continue
        seen.add(post)
        body = _first_paragraph(row.get(columns["Question_body"]) or "")
        text = f"{title}\n\n{body}"[:1000].strip()
        yield {
            "text": text,
            "agent": "atlas",
            "key": post,
            "link": f"https://stackoverflow.com/questions/{post}",
        }


def _first_paragraph(body: str) -> str:
    text = re.sub(r"(?i)</\s*(p|div|li|h[1-6]|pre|blockquote)\s*>|<\s*br\s*/?>", "\n", body)
    text = re.sub(r"<[^>]+>", "", text)
    for _ in range(2):  # some exports escape twice
        text = html.unescape(text)
    paragraphs = [" ".join(p.split()) for p in text.split("\n") if p.strip()]
    kept: list[str] = []
    for paragraph in paragraphs:
        kept.append(paragraph)
        if len(" ".join(kept)) >= 80:
            break
    return " ".join(kept)


def _xlsx_rows(data: bytes) -> list[dict[str, str | None]]:
    """The first sheet of an .xlsx workbook: each row as {column letter: cell text}."""
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    book = zipfile.ZipFile(io.BytesIO(data))
    shared = [
        "".join(t.text or "" for t in item.iter(f"{ns}t"))
        for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall(f"{ns}si")
    ]
    rows: list[dict[str, str | None]] = []
    for row in ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml")).iter(f"{ns}row"):
        cells: dict[str, str | None] = {}
        for cell in row.findall(f"{ns}c"):
            column = re.sub(r"\d", "", cell.get("r", ""))
            value = cell.find(f"{ns}v")
            if cell.get("t") == "s" and value is not None and value.text is not None:
                cells[column] = shared[int(value.text)]
            elif cell.get("t") == "inlineStr":
                cells[column] = "".join(t.text or "" for t in cell.iter(f"{ns}t"))
            else:
                cells[column] = value.text if value is not None else None
        rows.append(cells)
    return rows


def _gsm8k(files: dict[str, bytes]) -> Iterator[Item]:
    """GSM8K's training split: every question -> math."""
    path = "grade_school_math/data/train.jsonl"
    for number, line in _lines(files[path]):
        link = _blob("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c", path, number)
        yield {"text": json.loads(line)["question"].strip(), "task": "math", "key": number, "link": link}


def _csqa2(files: dict[str, bytes]) -> Iterator[Item]:
    """CommonsenseQA 2.0's training split: every question (ending in "?") -> reasoning."""
    path = "dataset/CSQA2_train.json.gz"
    for line in gzip.decompress(files[path]).decode().splitlines():
        row = json.loads(line) if line.strip() else {}
        text = (row.get("question") or "").strip()
        if text.endswith("?"):
            yield {"text": text, "task": "reasoning", "key": row["id"], "link": None}


def _conala(files: dict[str, bytes]) -> Iterator[Item]:
    """CoNaLa's curated training split: each Stack Overflow question's intent, once -> code and dev."""
    seen: set[str] = set()
    for row in json.loads(files["conala-train.json"]):
        text = (row.get("intent") or "").strip()
        if text and text not in seen:
            seen.add(text)
            question = row["question_id"]
            key = f"{question}:{len(seen)}"
            link = f"https://stackoverflow.com/questions/{question}"
            yield {"text": text, "agent": "dev", "task": "code", "key": key, "link": link}


def _webquestions(files: dict[str, bytes]) -> Iterator[Item]:
    """WebQuestions' training split (ids wqr*): every question -> open_qa."""
    found: dict[str, str] = {}
    for path in ("main/trainmodel.json", "main/val.json", "main/devtest.json"):
        for row in json.loads(files[path]):
            if row["qId"].startswith("wqr") and row.get("qText", "").strip():
                found.setdefault(row["qId"], row["qText"].strip())
    for key in sorted(found):
        yield {"text": found[key], "task": "open_qa", "key": key, "link": None}


_PERSONA = re.compile(r"^\s*(I want you to act as|Act as|I want you to pretend|Pretend)\b", re.IGNORECASE)


def _awesome_prompts(files: dict[str, bytes]) -> Iterator[Item]:
    """awesome-chatgpt-prompts: text prompts (not the developer ones) that give the model a persona
    ("I want you to act as...", "Act as...") -> roleplay."""
    csv.field_size_limit(1 << 30)
    seen: set[str] = set()
    reader = csv.DictReader(io.StringIO(files["prompts.csv"].decode("utf-8-sig"), newline=""))
    for number, row in enumerate(reader, start=1):
        text = (row.get("prompt") or "").strip()
        kind, for_devs = (row.get("type") or "TEXT").upper(), (row.get("for_devs") or "FALSE").upper()
        if kind == "TEXT" and for_devs == "FALSE" and _PERSONA.match(text) and text not in seen:
            seen.add(text)
            yield {"text": text, "task": "roleplay", "key": number, "link": None}


_MARKUP = re.compile(r"\{\s*[a-z_]+\s*\}")


def _turn(turn: dict[str, Any]) -> str:
    words = _MARKUP.sub(" ", turn.get("content") or "").split()
    return f"{(turn.get('speaker') or '').strip()}: {' '.join(words)}"


def _qmsum(files: dict[str, bytes]) -> Iterator[Item]:
    """QMSum's training meetings: a general query with the whole transcript -> summarisation; a
    specific query with the turns it is about -> summarisation if it starts with "Summarize",
    else extraction (a question answered from the given text)."""
    for path in sorted(files):
        meeting = json.loads(files[path])
        turns = [_turn(t) for t in meeting["meeting_transcripts"]]
        name = path.rsplit("/", 1)[1].removesuffix(".json")
        for number, query in enumerate(meeting.get("general_query_list") or []):
            text = f"{query['query'].strip()}\n\n" + "\n".join(turns)
            yield {"text": text, "task": "summarisation", "key": f"{name}:general:{number}", "link": None}
        for number, query in enumerate(meeting.get("specific_query_list") or []):
            spans = [
                "\n".join(turns[max(int(a), 0) : int(b) + 1])
                for a, b in query.get("relevant_text_span") or []
            ]
            spans = [span for span in spans if span]
            if spans:
                asked = query["query"].strip()
                task = "summarisation" if re.match(r"(?i)\s*summari[sz]e\b", asked) else "extraction"
                text = f"{asked}\n\n" + "\n\n".join(spans)
                yield {"text": text, "task": task, "key": f"{name}:specific:{number}", "link": None}


MT_BENCH = {"coding": "code", "stem": "open_qa", "humanities": "open_qa"}
VICUNA = {
    "generic": "open_qa",
    "knowledge": "open_qa",
    "common-sense": "open_qa",
    "fermi": "reasoning",
    "coding": "code",
}
VICUNA_NONE = {"counterfactual"}  # speculative "what if" essays: no task kind fits


def _fastchat(bench: str, sha256: str, mapping: dict[str, str], none: set[str]) -> Source:
    commit = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
    path = f"fastchat/llm_judge/data/{bench}/question.jsonl"

    def parse(files: dict[str, bytes]) -> Iterator[Item]:
        """The first turn of each question; its category gives the task kind."""
        for number, line in _lines(files[path]):
            row = json.loads(line)
            task = None if row["category"] in none else mapping.get(row["category"], row["category"])
            link = _blob("lm-sys/FastChat", commit, path, number)
            yield {"text": row["turns"][0], "task": task, "key": row["question_id"], "link": link}

    return Source(bench, "lm-sys/FastChat", commit, (path,), sha256, "Apache-2.0", parse, use="heldout")


def _labelled(name: str, repo: str, commit: str, path: str, sha256: str, license_: str) -> Source:
    """A held-out set without categories: its task and agent labels are the team's (HELDOUT_LABELS)."""

    def parse(files: dict[str, bytes]) -> Iterator[Item]:
        labels = _team_labels(name)
        for number, line in _lines(files[path]):
            row = json.loads(line)
            key, text = _labelled_text(name, row)
            label = labels[key]
            task = None if label["task"] == "other" else label["task"]
            link = _blob(repo, commit, path, number)
            yield {"text": text, "task": task, "agent": label["agent"], "key": key, "link": link}

    return Source(name, repo, commit, (path,), sha256, license_, parse, use="heldout")


def _labelled_text(name: str, row: dict[str, Any]) -> tuple[str, str]:
    if name == "koala_testset":
        return f"koala_testset:{row['id']}", row["prompt"]
    if name == "arena_hard_v01":
        return f"arena_hard_v01:{row['question_id']}", row["turns"][0]["content"]
    instances = row.get("instances") or [{}]
    given = (instances[0].get("input") or "").strip()
    text = row["instruction"].strip() + (f"\n\n{given}" if given else "")
    return f"self_instruct_user_oriented:{row['id']}", text


_PERSONAL = re.compile(
    r"\b(yourself|you've|you're)\b|\btalk about\b|\byour (preferred|workflow|understanding|approach)\b"
    r"|\b(have|did|were|are) you\b|\btell (me|us)\b|\bwalk (me|us)\b|\bdescribe a time\b"
    r"|\byesterday\b|\bthis (week|year)\b|\brecent(ly)?\b|\blately\b|\bfavou?rite\b"
    r"|\byou (have|had) used\b|\b(excites|interests|inspires) you\b|\byou (like|dislike)\b"
    r"|\b(situation|time) (where|when) you\b",
    re.IGNORECASE,
)  # interview questions about the candidate's own history, which nobody asks an assistant
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")

H5BP = "h5bp/Front-end-Developer-Interview-Questions"
H5BP_COMMIT = "c8023cdcc4e13d45c096c3f37160a8fa5ab066d6"
H5BP_FILES = {
    f"src/questions/{name}-questions.md": ("quinn" if name == "testing" else "dev")
    for name in ("general", "html", "css", "javascript", "performance", "network", "testing")
}


def _h5bp(files: dict[str, bytes]) -> Iterator[Item]:
    """Front-end interview questions, one per top-level bullet (sub-bullets joined): the testing
    file -> quinn, the others -> dev."""
    for path, agent in H5BP_FILES.items():
        for number, text in _bullets(files[path], "* "):
            yield {
                "text": text,
                "agent": agent,
                "key": f"{path}:{number}",
                "link": _blob(H5BP, H5BP_COMMIT, path, number),
            }


def _bullets(data: bytes, marker: str, sections: dict[str, str] | None = None) -> Iterator[tuple[int, str]]:
    """Top-level bullets with their sub-bullets joined, questions about the reader's own past dropped."""
    items: list[list[Any]] = []
    section = None if sections is not None else ""  # without sections, every bullet counts
    for number, line in enumerate(data.decode().splitlines(), start=1):
        if line.startswith("#"):
            section = sections.get(line.strip()) if sections is not None else ""
        elif section is not None and line.startswith(marker):
            items.append([number, line[len(marker) :].strip(), [], section])
        elif section is not None and items and re.match(r"^\s+[+*-] ", line):
            items[-1][2].append(line.strip()[2:].strip())
    for number, parent, subs, _ in items:
        text = _MD_LINK.sub(r"\1", " ".join([parent, *(s for s in subs if not _PERSONAL.search(s))])).strip()
        if not _PERSONAL.search(text):
            yield number, text


A11Y = "scottaohara/accessibility_interview_questions"
A11Y_COMMIT = "0dbb86eb6166910ad08a66210eb94677c2bf0416"
A11Y_SECTIONS = {"## General": "luna", "## Design": "luna", "## Technical": "dev"}


def _accessibility(files: dict[str, bytes]) -> Iterator[Item]:
    """Accessibility interview questions: the General and Design sections -> luna, Technical -> dev."""
    lines = files["README.md"].decode().splitlines()
    for number, text in _bullets(files["README.md"], "- ", A11Y_SECTIONS):
        agent = next(
            A11Y_SECTIONS[line.strip()] for line in reversed(lines[:number]) if line.strip() in A11Y_SECTIONS
        )
        yield {
            "text": text,
            "agent": agent,
            "key": number,
            "link": _blob(A11Y, A11Y_COMMIT, "README.md", number),
        }


SDP = "donnemartin/system-design-primer"
SDP_COMMIT = "ae9bbd7b02d90b9866215de185217d33f39ab733"
SDP_SECTIONS = (
    "## System design interview questions with solutions",
    "### Additional system design interview questions",
)


def _system_design_primer(files: dict[str, bytes]) -> Iterator[Item]:
    """The first cell of each row of the system design question tables -> atlas."""
    inside = False
    for number, line in enumerate(files["README.md"].decode().splitlines(), start=1):
        if line.startswith("#"):
            inside = line.strip() in SDP_SECTIONS
            continue
        cell = line.strip().strip("|").split("|")[0].strip() if inside and line.startswith("|") else ""
        if cell and cell != "Question" and not set(cell) <= set("-: ") and not cell.startswith("Add a "):
            text = _MD_LINK.sub(r"\1", cell)
            yield {
                "text": text,
                "agent": "atlas",
                "key": number,
                "link": _blob(SDP, SDP_COMMIT, "README.md", number),
            }


ASDR = "ashishps1/awesome-system-design-resources"
ASDR_COMMIT = "25724090f7dd7746129b7194b55504f9d06f86ed"


def _awesome_system_design(files: dict[str, bytes]) -> Iterator[Item]:
    """The "System Design Interview Problems" list -> atlas."""
    inside = False
    for number, line in enumerate(files["README.md"].decode().splitlines(), start=1):
        if line.startswith("## "):
            inside = "System Design Interview Problems" in line
        elif inside and (found := re.match(r"^\s*[-*] \[([^\]]+)\]", line)):
            link = _blob(ASDR, ASDR_COMMIT, "README.md", number)
            yield {"text": found.group(1).strip(), "agent": "atlas", "key": number, "link": link}


SOURCES: tuple[Source, ...] = (
    _tweac("train"),
    Source(
        "archisminer",
        "JeanMusenga/ArchISMiner",
        "e064f2f9ad4665da77b56029499cc5a4cc99dd86",
        ("data/data_from_StackOveflow/367_ARPs_TrainingSet_for_IssueSolutionExtraction.xlsx",),
        "22dc51df4d895887e75744baddc5788150e4e1cd94d90e8c12c5272ea24fa519",
        "none stated for the compilation; posts CC BY-SA 4.0 (Stack Overflow)",
        _archisminer,
        holdout_percent=25,
    ),
    Source(
        "gsm8k",
        "openai/grade-school-math",
        "3101c7d5072418e28b9008a6636bde82a006892c",
        ("grade_school_math/data/train.jsonl",),
        "425e2f14d078c44841d2885a50792acb283f13648372f4fa8bbd9e778c798ae2",
        "MIT",
        _gsm8k,
    ),
    Source(
        "csqa2",
        "allenai/csqa2",
        "3f57a4a6a1d51fe6a9b462b59be67c08d41fdc39",
        ("dataset/CSQA2_train.json.gz",),
        "208a00db92d63a7f886feff2c69a3473f7d78ed5eab8e769e06706034791483b",
        "CC-BY-4.0",
        _csqa2,
    ),
    Source(
        "conala",
        "shilliscmu/TranxConalaBaseline",
        "5520285387d946e826f4cc5a4a0a1bf7361355e5",
        ("conala-train.json",),
        "2a7f8e76219f4c9f4add0ea209fe18bb6349548c23d349852c42751cdab81b9c",
        "MIT (CoNaLa); intents are Stack Overflow titles, CC BY-SA",
        _conala,
    ),
    Source(
        "webquestions",
        "brmson/dataset-factoid-webquestions",
        "668890853388010fe6ae9a5eb035a7917b88933b",
        ("main/trainmodel.json", "main/val.json", "main/devtest.json"),
        "ecf76615cbf2a17cbb45a194887739efb72f7d4dfe1cd0a918b4b6c7013810bd",
        "CC-BY-4.0",
        _webquestions,
    ),
    Source(
        "awesome_chatgpt_prompts",
        "f/awesome-chatgpt-prompts",
        "50a97c072933c93c76cc0714e9dd4c4cf1d80ae7",
        ("prompts.csv",),
        "22a2245620a072ac7e6fa0bf149822db7da5e6b9ddf90f63bedc3a8063d29e17",
        "CC0-1.0",
        _awesome_prompts,
    ),
    Source(
        "qmsum",
        "Yale-LILY/QMSum",
        "83d7768c1f2b4dfeb091385d3dc7e239b8e5bb7e",
        ("data/ALL/train/",),
        "68c912cff8a87ba4aaa6031339c163c9629de3480e3005abc07446b473558bcb",
        "MIT",
        _qmsum,
    ),
    # Evaluation only
    _tweac("test"),
    _fastchat(
        "mt_bench", "99216b94f9e4b7559208d9b5443bf5fba8fa2c379ea88847f2517915d09842b7", MT_BENCH, set()
    ),
    _fastchat(
        "vicuna_bench",
        "e5c1cadf455d36cae9abc7d3865824462b4ba60b12ca447923b46e1a878f04a2",
        VICUNA,
        VICUNA_NONE,
    ),
    _labelled(
        "koala_testset",
        "arnav-gudibande/koala-test-set",
        "2d4396aee3cff495382e9b0ad2521d70b177763b",
        "koala_test_set.jsonl",
        "3263afbb1a50c037ec61d4ee2ebef81be8771fb52b6f624238469057c6b47fb0",
        "Apache-2.0",
    ),
    _labelled(
        "self_instruct_user_oriented",
        "yizhongw/self-instruct",
        "0b26ccaa415992100fa32df62d41b994cf928e23",
        "human_eval/user_oriented_instructions.jsonl",
        "c1c3d6dfcda4c72c74b235e2b4d579aaa932a122495512befa226bf5d2ca54b3",
        "Apache-2.0",
    ),
    _labelled(
        "arena_hard_v01",
        "lm-sys/arena-hard-auto",
        "efc012e192b88024a5203f5a28ec8fc0342946df",
        "data/arena-hard-v0.1/question.jsonl",
        "90b48c88893b8ee331487b7726e468e1ffeb4a84b9d892e14838e75f0efc49c3",
        "Apache-2.0",
    ),
    Source(
        "h5bp",
        H5BP,
        H5BP_COMMIT,
        tuple(H5BP_FILES),
        "ed51ba33f7d0f2d6946865250f8d7e9dfcf99d79769dced3969f3cc5b99f338c",
        "MIT",
        _h5bp,
        use="heldout",
    ),
    Source(
        "accessibility_questions",
        A11Y,
        A11Y_COMMIT,
        ("README.md",),
        "ff4649e3116d0e0e38350d63e77f34fd3c67cac801f1925a15f91bb67e5ee70b",
        "MIT",
        _accessibility,
        use="heldout",
    ),
    Source(
        "system_design_primer",
        SDP,
        SDP_COMMIT,
        ("README.md",),
        "16ff3f6e12efc2b88a6c52362dd8ce1ace5ca04cae4c2288dea32a3d56cd7110",
        "CC-BY-4.0",
        _system_design_primer,
        use="heldout",
    ),
    Source(
        "awesome_system_design",
        ASDR,
        ASDR_COMMIT,
        ("README.md",),
        "e18c3d1027c74ee8237edc805bda852bd750351626acd64bf84bb4d5da5e92ad",
        "GPL-3.0",
        _awesome_system_design,
        use="heldout",
    ),
)


def generated() -> list[Example]:
    """The team's generated supplement (docs/ROUTER_DATA.md says what and why), training only."""
    return [
        Example(
            text=row["text"],
            agent=row.get("agent"),
            task=row.get("task"),
            source="generated",
            key=str(number),
            generated=True,
        )
        for number, row in enumerate(map(json.loads, GENERATED.read_text().splitlines()), start=1)
    ]
